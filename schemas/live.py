"""Contract of the live orders table: what the daily timing tells a trader to do next session.

`orders`: one row per (symbol, side, session) of the next session (`trade_date`); `weight` is
each selected stock's equal slot of the capital; `shares` and `cost` are null when no capital
was given (weights only) and 0 for a buy the book cannot afford; `held_after` says whether the
position is held after the trade. Validate collected frames through
`cnnlstm.schemas.validation.validate_table`.
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa


class OrdersSchema(pa.DataFrameModel):
    """The next session's orders of the live book."""

    symbol: str = pa.Field(str_length={"min_value": 1})
    side: str = pa.Field(isin=["buy", "sell"])
    session: str = pa.Field(isin=["open", "close"])
    trade_date: dt.date = pa.Field()
    weight: float = pa.Field(ge=0, le=1, nullable=True)
    shares: float = pa.Field(ge=0, nullable=True)
    cost: float = pa.Field(ge=0, nullable=True)
    reason: str = pa.Field(nullable=True)
    held_after: bool = pa.Field()

    class Config:
        """Whole-table rules."""

        unique = ["symbol", "side", "session"]
        coerce = True
        strict = True
