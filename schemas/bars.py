"""The `bars` and `benchmark` table contracts (see ../shared/DESIGN.md, "Data contracts").

`bars`: one row per (symbol, date) with adjusted daily prices. Prices are strictly positive and
finite, `low <= open, close <= high`, volume and amount are non-negative. A suspended day is a
missing row or a row with volume 0; it is never filled with fake prices.

`benchmark`: one row per date with the index close (`symbol` names the index, e.g. `SH000300`,
`SIM_INDEX`, or `EW_UNIVERSE` for a derived equal-weighted universe index).

Validate collected frames (a LazyFrame checks only the schema) through
`cnnlstm.schemas.validation.validate_table`, which turns pandera's failures into a readable report.
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

BAR_COLUMNS: tuple[str, ...] = (
    "symbol",
    "date",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "amount",
)
"""The columns of the `bars` table, in their canonical order."""

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
"""The price columns of the `bars` table."""

BENCHMARK_COLUMNS: tuple[str, ...] = ("symbol", "date", "close")
"""The columns of the `benchmark` table, in their canonical order."""

BARS_DTYPES: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "date": pl.Date(),
    **{c: pl.Float64() for c in (*PRICE_COLUMNS, "volume", "amount")},
}
"""The polars dtype of each `bars` column."""


#: Symbols are printable, without control characters or whitespace (a NUL or a newline in a
#: symbol breaks every file and log it reaches), at most `SYMBOL_MAX_CHARS` characters.
SYMBOL_MAX_CHARS = 32
SYMBOL_PATTERN = (
    r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]+$"
)


class BarsSchema(pa.DataFrameModel):
    """Daily bars: one row per (symbol, date), adjusted prices, volume in shares."""

    symbol: str = pa.Field(
        str_length={"min_value": 1, "max_value": SYMBOL_MAX_CHARS}, str_matches=SYMBOL_PATTERN
    )
    date: dt.date = pa.Field()
    open: float = pa.Field(gt=0)
    high: float = pa.Field(gt=0)
    low: float = pa.Field(gt=0)
    close: float = pa.Field(gt=0)
    volume: float = pa.Field(ge=0)
    amount: float = pa.Field(ge=0)

    @pa.dataframe_check(name="low <= open, close <= high")
    def low_high_bracket_open_close(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """The day's low is at most its open and close, its high at least both."""
        low_ok = pl.col("low") <= pl.min_horizontal("open", "close")
        high_ok = pl.col("high") >= pl.max_horizontal("open", "close")
        return data.lazyframe.select(low_ok & high_ok)

    @pa.dataframe_check(name="finite prices, volume and amount")
    def values_are_finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """No infinite price, volume or amount (NaN is caught by the columns' nullability)."""
        cols = [*PRICE_COLUMNS, "volume", "amount"]
        return data.lazyframe.select(pl.all_horizontal([~pl.col(c).is_infinite() for c in cols]))

    class Config:
        """Whole-table rules."""

        unique = ["symbol", "date"]
        coerce = True
        strict = True


class BenchmarkSchema(pa.DataFrameModel):
    """The benchmark index: one row per date with its close."""

    symbol: str = pa.Field(
        str_length={"min_value": 1, "max_value": SYMBOL_MAX_CHARS}, str_matches=SYMBOL_PATTERN
    )
    date: dt.date = pa.Field(unique=True)
    close: float = pa.Field(gt=0)

    @pa.dataframe_check(name="finite close")
    def close_is_finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """No infinite close (NaN is caught by the column's nullability)."""
        return data.lazyframe.select(~pl.col("close").is_infinite())

    class Config:
        """Whole-table rules."""

        coerce = True
        strict = True
