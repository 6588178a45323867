"""pandera DataFrameModels for every table that crosses a stage boundary."""
