"""Prefect flows: each only chains the stage tasks of `cnnlstm.flows.stages.data`."""
