"""Data sources: each turns its input into the `bars` table (and a `benchmark` where it has one)."""
