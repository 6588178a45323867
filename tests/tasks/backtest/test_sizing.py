"""Live order sizing uses the backtest's rule: whole lots at the real price, net of costs."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.backtest.sizing import size_buy, size_orders

CN = MarketConfig.preset("cn")


def test_a_slot_buys_whole_lots_and_leaves_the_rest_in_cash():
    # 83,220 fractional shares were ordered before; now 100-share lots net of the costs.
    sized = size_buy("SH600000", 100_000.0, 12.34, date(2024, 3, 1), CN)
    assert sized.shares == 8000 and sized.shares % 100 == 0
    assert sized.value + sized.cost <= 100_000.0
    assert (
        size_buy("SH600000", 100_000.0 + 12.34 * 100 * 1.01, 12.34, date(2024, 3, 1), CN).shares
        == 8100
    )


def test_star_minimum_and_steps_and_adjusted_prices():
    assert size_buy("SH688001", 250 * 40 * 1.002 + 5, 40.0, date(2024, 3, 1), CN).shares == 250
    none = size_buy("SH688001", 199 * 40.0, 40.0, date(2024, 3, 1), CN)
    assert (none.shares, none.why_none) == (0.0, "below_one_lot")
    # Adjusted price 120 with factor 3 is a real 40: the same 250 real shares.
    assert (
        size_buy("SH688001", 250 * 40 * 1.002 + 5, 120.0, date(2024, 3, 1), CN, factor=3.0).shares
        == 250
    )


def test_size_orders_adds_columns():
    orders = pl.DataFrame(
        {"symbol": ["SH600000", "SZ000001"], "budget": [50_000.0, None], "price": [10.0, 10.0]}
    )
    out = size_orders(orders, date(2024, 3, 1), CN)
    assert out["shares"].to_list() == [4900.0, None]
    assert out["cash_left"][0] == pytest.approx(50_000 - 49_000 - out["cost"][0])
