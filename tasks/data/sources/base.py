"""What every source returns, the summary of what it read, and how a source is named.

A source turns its input (a folder, files, a simulation) into the `bars` table and, where it holds
one, a `benchmark` table (see `schemas/bars.py` for both contracts). It never repairs or drops rows
silently: whatever it sets aside is counted in `ReadReport.rejected` with the reason, and rows it
keeps but cannot vouch for (e.g. distorted forward-adjusted stretches) are listed in
`SourceData.suspect` for ingestion to fail on or quarantine.

A source is named by a spec `KIND:PATH` (`load_source`), a benchmark by `KIND:PATH[#SYMBOL]`
(`load_benchmark`). Kinds: sim, qlib, akshare, netease, csv, parquet, akshare-online, yfinance.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.data.sources.spec import (  # noqa: F401 - re-exported
    PATHLESS_KINDS,
    SOURCE_KINDS,
    WINDOWED_KINDS,
    SourceSpec,
    parse_spec,
)


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
    suspect: pl.DataFrame | None = None
    """Rows of `bars` the source cannot vouch for: `symbol`, `date`, `reason` (None: none)."""
    membership: pl.DataFrame | None = None
    """The universe's membership periods (`schemas/universe.py`) where the source holds them
    (Qlib's `instruments/<name>.txt`); None: every stock the source read, on every date."""
    universe_name: str | None = None
    """The universe's name in the report (e.g. "CSI 300"), with `membership`."""
    listing: pl.DataFrame | None = None
    """Listing periods (same shape; Qlib's `instruments/all.txt`): an end before the data's
    last day is a delisting. None: delisting is inferred from the bars."""


# The kinds and their specs live in the polars-free `spec` module (the command line checks a
# spec before it imports polars); they are re-exported here, where a reader looks for them.
def load_source(spec: str, **options: Any) -> SourceData:
    """Read the bars (and any benchmark) a source spec names.

    Args:
        spec: `KIND:PATH`, e.g. `qlib:data/cn`, `csv:stocks/`, `sim:` (options are SimConfig
            fields), `akshare-online:600000,000001`, `yfinance:AAPL,MSFT`.
        **options: Options of that kind's reader (e.g. `columns=` for csv/parquet, `start=`).

    Raises:
        UserInputError: the spec, the options or the data cannot be used.
    """
    parsed = parse_spec(spec)
    module = importlib.import_module(SOURCE_KINDS[parsed.kind])
    try:
        inspect.signature(module.load).bind(parsed.kind, parsed.path, **options)
    except TypeError as err:
        raise UserInputError(f"{parsed.kind} source does not take these options: {err}") from None
    return module.load(parsed.kind, parsed.path, **options)


def load_benchmark(spec: str) -> pl.DataFrame:
    """Read a benchmark table from `KIND:PATH[#SYMBOL]` (`#SYMBOL` picks an index in a folder)."""
    parsed = parse_spec(spec, allow_symbol=True)
    module = importlib.import_module(SOURCE_KINDS[parsed.kind])
    return module.load_benchmark(parsed.kind, parsed.path, parsed.symbol)
