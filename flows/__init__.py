"""Prefect flows: each only chains the stage tasks of `flows.stages`."""
