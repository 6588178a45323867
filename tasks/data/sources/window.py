"""A reader's date window: the rows of a file a run needs, filtered as the file is scanned.

A research run reads only its span (look-back included, `flows.stages.data.research_span`).
A Qlib folder is sliced by calendar index (`qlib.read_field`); a CSV or Parquet file has no
index, so its rows are filtered as polars scans it (`scan_filter`): a Parquet date column is
compared with the window's bounds in its own type, so the filter is pushed into the scan and
row groups outside the window are never decoded; a text date is parsed as the reader parses
it and filtered as polars parses the rows, so rows outside are never materialised.

The scan filter is a superset, never a loss: it widens the window by a day on each side (a
date-time with a zone is read as its date in the market's zone, which lies at most a day
from the date it was written with) and keeps every row whose date it cannot read (the
reader then names them in its error). `exact` cuts the parsed rows to the window. The rows
inside the window, and what is said about them, are the same as a whole read's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import polars as pl

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.data.sources.files import plain_dates


def as_date(value: date | str | None, name: str, kind: str) -> date | None:
    """A window bound given as a date or ISO text (None: open)."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise UserInputError(f"{kind} option {name}={value!r} is not an ISO date") from None


@dataclass(frozen=True)
class DateWindow:
    """Dates from `start` to `end`, both included (either open: None)."""

    start: date | None = None
    end: date | None = None

    @classmethod
    def of(cls, start: date | str | None, end: date | str | None, kind: str) -> DateWindow | None:
        """The window of a reader's `start`/`end` options; None when both are open."""
        first, last = as_date(start, "start", kind), as_date(end, "end", kind)
        return None if first is None and last is None else cls(first, last)

    def scan_filter(self, column: str, dtype: pl.DataType, fmt: str | None = None) -> pl.Expr:
        """The scan's filter on the file's date `column` of type `dtype` (a superset).

        `fmt` is the reader's date format for text dates.
        """
        day = timedelta(days=1)
        lo = None if self.start is None else self.start - day
        hi = None if self.end is None else self.end + day
        col = pl.col(column)
        if dtype == pl.Date:
            return _between(col, lo, hi)
        if isinstance(dtype, pl.Datetime):
            return _between(
                col,
                None if lo is None else _instant(lo, dtype.time_zone),
                None if hi is None else _instant(hi + day, dtype.time_zone),
                closed_high=False,
            )
        parsed = plain_dates(col.cast(pl.String).str.strip_chars(), fmt)
        return parsed.is_null() | _between(parsed, lo, hi)

    def exact(self, dates: pl.Expr) -> pl.Expr:
        """The rows whose parsed date lies in the window."""
        return _between(dates, self.start, self.end)

    def describe(self) -> str:
        """`2012-10-01 .. 2017-12-31` (an open end as `-`)."""
        return f"{self.start or '-'} .. {self.end or '-'}"


def _instant(day: date, zone: str | None) -> pl.Expr:
    """Midnight of `day` as a literal in the column's zone (naive without one)."""
    lit = pl.lit(datetime.combine(day, time()))
    return lit if zone is None else lit.dt.replace_time_zone(zone)


def _between(expr: pl.Expr, lo: object, hi: object, *, closed_high: bool = True) -> pl.Expr:
    """`lo <= expr <= hi` (or `< hi`), either bound open when None."""
    keep = []
    if lo is not None:
        keep.append(expr >= lo)
    if hi is not None:
        keep.append((expr <= hi) if closed_high else (expr < hi))
    if not keep:
        return pl.lit(True)
    return keep[0] if len(keep) == 1 else keep[0] & keep[1]
