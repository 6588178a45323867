"""What every source returns, and the summary of what it read.

A source turns its input (a folder, files, a simulation) into the `bars` table and, where it holds
one, a `benchmark` table (see `schemas/bars.py` for both contracts). It never repairs or drops rows
silently: whatever it sets aside is counted in `ReadReport.rejected` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl


@dataclass
class ReadReport:
    """What a source read: counts a user checks against their raw files."""

    source: str
    stocks: int = 0
    rows: int = 0
    first_date: date | None = None
    last_date: date | None = None
    suspended_days: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [
            f"source: {self.source}",
            f"stocks: {self.stocks}  rows: {self.rows}",
            f"dates: {self.first_date} .. {self.last_date}",
            f"suspended days (volume 0): {self.suspended_days}",
        ]
        if self.rejected:
            total = sum(self.rejected.values())
            out.append(f"rows rejected: {total}")
            out += [f"  {reason}: {n}" for reason, n in sorted(self.rejected.items())]
        out += [f"note: {n}" for n in self.notes]
        return out


def summarize(
    bars: pl.DataFrame,
    source: str,
    rejected: dict[str, int] | None = None,
    notes: list[str] | None = None,
) -> ReadReport:
    """Build the `ReadReport` of a bars table as read from `source`."""
    empty = bars.height == 0
    return ReadReport(
        source=source,
        stocks=0 if empty else bars["symbol"].n_unique(),
        rows=bars.height,
        first_date=None if empty else bars["date"].min(),
        last_date=None if empty else bars["date"].max(),
        suspended_days=0 if empty else int((bars["volume"] == 0).sum()),
        rejected=dict(rejected or {}),
        notes=list(notes or []),
    )


@dataclass
class SourceData:
    """A source's output: `bars`, an optional `benchmark`, and the report of what was read."""

    bars: pl.DataFrame
    benchmark: pl.DataFrame | None
    report: ReadReport
