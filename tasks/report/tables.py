"""The report's table writer: a polars frame as a GitHub markdown table.

Used by the comparisons (`cnnlstm compare`, the sweep flow's comparison) so every table a
researcher compares runs in looks the same: text as given, numbers to 4 significant digits,
missing values as `-`.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl


def cell(value: Any) -> str:
    """One cell's text: numbers to 4 significant digits, missing values as `-`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pl.DataFrame) -> str:
    """The frame as a GitHub markdown table (header, rule, one line per row)."""
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([head, rule, *body])
