"""The `membership` table contract: who belongs to a universe (or is listed) over which dates.

`membership`: one row per period: `symbol` (upper-case), `start` and `end` (both inclusive
dates), `end >= start`. A symbol may have several periods (it left the index and came back);
periods of one symbol must not overlap (an overlap is a broken file, not a membership). The same
shape holds listing periods (Qlib's `instruments/all.txt`): a stock is listed from `start` to
`end`, and an `end` before the data's last day means it was delisted then.

The table crosses stages (the ingest stage reads it, the features and backtest stages apply it),
so it is validated through `cnnlstm.schemas.validation.validate_table` wherever it is handed on.
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

MEMBERSHIP_COLUMNS: tuple[str, ...] = ("symbol", "start", "end")
"""The columns of the `membership` table, in their canonical order."""


class MembershipSchema(pa.DataFrameModel):
    """Membership (or listing) periods: symbol, first and last day, several rows per symbol."""

    symbol: str = pa.Field(str_length={"min_value": 1})
    start: dt.date = pa.Field()
    end: dt.date = pa.Field()

    @pa.dataframe_check(name="end >= start")
    def period_is_ordered(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A period ends on or after its first day."""
        return data.lazyframe.select(pl.col("end") >= pl.col("start"))

    @pa.dataframe_check(name="symbol upper-case")
    def symbol_is_upper(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Symbols are upper-case, as every source returns them."""
        return data.lazyframe.select(pl.col("symbol") == pl.col("symbol").str.to_uppercase())

    @pa.dataframe_check(name="periods of a symbol do not overlap")
    def periods_do_not_overlap(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Each period starts after the symbol's previous period (by start) has ended."""
        prev_end = pl.col("end").shift(1).over("symbol", order_by="start")
        return data.lazyframe.select(prev_end.is_null() | (pl.col("start") > prev_end))

    class Config:
        """Whole-table rules."""

        unique = ["symbol", "start"]
        coerce = True
        strict = True
