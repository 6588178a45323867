"""Contracts of the strategy tables: scores, selection, signals, trades and nav.

See docs/ARCHITECTURE.md ("Tables"). `scores`: one row per (symbol, month) with the selector's
score (CNN P(class 1) or momentum return). `selection`: the month's chosen stocks with their
rank (1 = best). `signals`: the LSTM's +1/-1 decision for day `d` (taken after its close).
`trades`: the backtest ledger (`price`/`shares` in the data's price units, `raw_price`/
`raw_shares` on the exchange; a buy's `raw_shares` is a whole lot, `reason` says why the trade
was wanted, what delayed it and which rule resized it). `nav`: one row per (date, strategy) of
daily values relative to the initial capital. Validate collected frames through
`cnnlstm.schemas.validation.validate_table`.
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl


class ScoresSchema(pa.DataFrameModel):
    """A selector's score per eligible (symbol, month)."""

    symbol: str = pa.Field(str_length={"min_value": 1})
    month: dt.date = pa.Field()
    score: float = pa.Field()

    @pa.dataframe_check(name="score is finite")
    def score_is_finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """No NaN or infinite score."""
        return data.lazyframe.select(pl.col("score").is_finite())

    class Config:
        """Whole-table rules."""

        unique = ["symbol", "month"]
        coerce = True
        strict = False


class SelectionSchema(pa.DataFrameModel):
    """The stocks chosen for each month, best first."""

    month: dt.date = pa.Field()
    symbol: str = pa.Field(str_length={"min_value": 1})
    score: float = pa.Field(nullable=True)
    rank: int = pa.Field(ge=1)

    class Config:
        """Whole-table rules."""

        unique = ["month", "symbol"]
        coerce = True
        strict = True


class SignalsSchema(pa.DataFrameModel):
    """The LSTM's timing decision for (symbol, day d), taken after d's close."""

    symbol: str = pa.Field(str_length={"min_value": 1})
    date: dt.date = pa.Field()
    signal: pl.Int8 = pa.Field(isin=[-1, 1])
    prob_up: float = pa.Field(ge=0, le=1)

    class Config:
        """Whole-table rules."""

        unique = ["symbol", "date"]
        coerce = True
        strict = True


class TradesSchema(pa.DataFrameModel):
    """The backtest ledger: one row per executed trade."""

    date: dt.date = pa.Field()
    symbol: str = pa.Field(str_length={"min_value": 1})
    side: str = pa.Field(isin=["buy", "sell"])
    session: str = pa.Field(isin=["open", "close"])
    price: float = pa.Field(gt=0)
    shares: float = pa.Field(gt=0)
    cost: float = pa.Field(ge=0)
    reason: str = pa.Field(str_length={"min_value": 1})
    raw_price: float = pa.Field(gt=0)  # the real traded price (price / adjustment factor)
    raw_shares: float = pa.Field(gt=0)  # real shares (whole lots on buys)
    strategy: str = pa.Field(str_length={"min_value": 1})

    class Config:
        """Whole-table rules."""

        coerce = True
        strict = True


class NavSchema(pa.DataFrameModel):
    """Daily values of each strategy, relative to the initial capital."""

    date: dt.date = pa.Field()
    strategy: str = pa.Field(str_length={"min_value": 1})
    nav: float = pa.Field(ge=0)
    position_ratio: float = pa.Field(ge=0, le=1.000001)
    cash: float = pa.Field()
    costs: float = pa.Field(ge=0)

    class Config:
        """Whole-table rules."""

        unique = ["date", "strategy"]
        coerce = True
        strict = True
