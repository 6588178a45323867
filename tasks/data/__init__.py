"""Market data: sources, ingestion, the Parquet store and the feed's health."""
