"""The report's one table writer: GitHub markdown tables.

Every table the project prints goes through `markdown_table`: Table 2 and the report's other
sections, the one-screen summary, the notes table, `cnnlstm compare` and the sweep's comparison
(`frame_markdown`: a polars frame, numbers to 4 significant digits, missing values as `-`).
A cell's `|` is escaped so it cannot split the row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import polars as pl

Align = Literal["l", "r"]


def cell(value: Any) -> str:
    """One cell's text: numbers to 4 significant digits, missing values as `-`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _row(cells: Iterable[str]) -> str:
    return "|" + "".join(f" {c.replace('|', chr(92) + '|')} |" if c else " |" for c in cells)


def markdown_table(
    head: Sequence[str], rows: Iterable[Sequence[str]], align: str | Sequence[Align] = "l"
) -> list[str]:
    """The table's lines: header, rule, one line per row.

    `align` is one letter per column (`"lrr"`: left, then right-aligned numbers) or one letter
    for all columns.
    """
    aligns = align * len(head) if len(align) == 1 else align
    if len(aligns) != len(head):
        raise ValueError(f"{len(aligns)} alignments for {len(head)} columns")
    rule = "|" + "".join(" ---: |" if a == "r" else " --- |" for a in aligns)
    return [_row(head), rule, *(_row(r) for r in rows)]


def aligned(left: int, right: int) -> str:
    """`left` left-aligned columns, then `right` right-aligned ones (`"lrrr"`)."""
    return "l" * left + "r" * right


def frame_markdown(frame: pl.DataFrame) -> str:
    """A polars frame as a GitHub markdown table (`compare`, the sweep's comparison)."""
    rows = ([cell(v) for v in row] for row in frame.iter_rows())
    return "\n".join(markdown_table(frame.columns, rows))
