"""Stage logic as plain functions over polars frames; no Prefect imports here."""
