"""The flows' cached stage tasks: thin Prefect wrappers over the stage logic in `cnnlstm.tasks`."""
