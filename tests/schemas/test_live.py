"""The live orders' contract: known sides and sessions, no negative shares, one row per trade."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cnnlstm.core.errors import DataValidationError
from cnnlstm.schemas.live import OrdersSchema
from cnnlstm.schemas.validation import validate_table
from cnnlstm.tasks.live.orders import ORDER_SCHEMA, next_session_orders


def _orders() -> pl.DataFrame:
    return next_session_orders(
        ["A", "B"], {"A": [1], "B": [-1]}, trade_date=date(2013, 7, 2), hold_days=5,
        closes={"A": 10.0}, capital=1e6,
    )  # fmt: skip


def test_the_orders_the_live_book_makes_pass_and_an_empty_table_too():
    orders = _orders()
    assert orders["side"].to_list() == ["buy"] and orders["shares"][0] > 0
    assert validate_table(orders, OrdersSchema, table="orders").valid.equals(orders)
    empty = pl.DataFrame(schema=ORDER_SCHEMA)
    assert validate_table(empty, OrdersSchema, table="orders").valid.height == 0


def test_a_bad_order_is_refused_naming_the_check():
    bad = _orders().with_columns(side=pl.lit("short"))
    with pytest.raises(DataValidationError, match="side"):
        validate_table(bad, OrdersSchema, table="orders")
    twice = pl.concat([_orders(), _orders()])
    with pytest.raises(DataValidationError, match="unique|duplicate"):
        validate_table(twice, OrdersSchema, table="orders")
