"""Suspended is not delisted (issue 9 item 7).

Measured case: AkShare data (no rows on suspended days) with bars cut at the test end; 30
stocks merely suspended across the end were settled as "delisted", sold at their last close
with selling costs on days with no bar. A stock is now delisted only when the source says so
(a listing table) or it never trades again in the whole store for `delist_after` sessions;
otherwise it keeps its last close and is flagged when held at the end.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from cnnlstm.tasks.backtest import MarketConfig, run_backtest
from cnnlstm.tasks.backtest.api import market_arrays
from cnnlstm.tasks.strategy.strategies import StrategySet, monthly_orders, run_strategies
from tests.tasks.backtest.helpers import DATES, FEB, bars_from, selection

NAN = math.nan
FREE = MarketConfig.frictionless().model_copy(update={"initial_capital": 1000.0})


def test_stock_suspended_across_the_test_end_is_not_sold_as_delisted():
    # B has no rows from Feb 5 to the data's end (Mar 2): suspended, like AkShare data cut at
    # the test end. The old rule settled it on Feb 5 at its last close with selling costs.
    prices = {"A": [10.0] * 7, "B": [10, 10, 10, 12, NAN, NAN, NAN]}
    bars = bars_from(prices, prices)
    market = market_arrays(bars)
    assert market.delisting().tolist() == [-1, -1]
    res = run_backtest(market, [monthly_orders(market, "s", selection(FEB, "A", "B"))], FREE)
    assert res.trades.filter(pl.col("reason") == "delisted").height == 0
    assert res.nav["nav"][-1] * 1000 == pytest.approx(500 + 50 * 12)  # B kept at 12
    assert res.held_suspended_at_end == {"s": 1}


def test_the_flag_reaches_the_run_notes():
    prices = {"A": [10.0] * 7, "B": [10, 10, 10, 12, NAN, NAN, NAN]}
    bars = bars_from(prices, prices)
    inputs = StrategySet(universe=selection(FEB, "A", "B"))
    run = run_strategies(bars, inputs, FREE, start=FEB, end=DATES[-1])
    assert run.notes["held_suspended_at_end.equal_weight"] == 1
    assert not any(k.startswith("rule.") and "delisted" in k for k in run.notes)


def test_bars_cut_at_the_test_end_keep_the_store_s_later_trades():
    # The store goes on after the test end and B trades again there: not delisted.
    prices = {"A": [10.0] * 7, "B": [10, 10, 10, 12, NAN, NAN, 13]}
    market = market_arrays(bars_from(prices, prices), end=DATES[5])
    assert market.delisting().tolist() == [-1, -1]


def test_a_listing_table_says_when_a_stock_ended():
    prices = {"A": [10.0] * 7, "B": [10, 10, 10, 12, NAN, NAN, NAN]}
    listing = pl.DataFrame({"symbol": ["B"], "end": [DATES[3]]})
    market = market_arrays(bars_from(prices, prices), listing=listing)
    assert market.delisting().tolist() == [-1, 4]
    res = run_backtest(market, [monthly_orders(market, "s", selection(FEB, "A", "B"))], FREE)
    sell = res.trades.filter(pl.col("reason") == "delisted").row(0, named=True)
    assert (sell["date"], sell["price"]) == (DATES[4], 12.0)


def test_never_trading_again_over_delist_after_sessions_is_a_delisting():
    prices = {"A": [10.0] * 7, "B": [10, 10, 10, 12, NAN, NAN, NAN]}
    market = market_arrays(bars_from(prices, prices), delist_after=3)
    assert market.delisting().tolist() == [-1, 4]
    market = market_arrays(bars_from(prices, prices), delist_after=4)
    assert market.delisting().tolist() == [-1, -1]


def test_the_runs_listing_table_reaches_the_strategies_market():
    """The listing table (Qlib's all.txt) now decides delisting in the research backtest."""
    from cnnlstm.tasks.strategy.strategies import prepare_strategies

    prices = {"A": [10.0] * 7, "B": [10, 10, 10, 12, NAN, NAN, NAN]}
    listing = pl.DataFrame(
        {"symbol": ["A", "B"], "start": [DATES[0]] * 2, "end": [DATES[-1], DATES[3]]}
    )
    inputs = StrategySet(universe=selection(FEB, "A", "B"))
    told = prepare_strategies(
        bars_from(prices, prices), inputs, start=FEB, end=DATES[-1], listing=listing
    )
    assert told.market.delisting().tolist() == [-1, 3]  # the first day after B's end
    inferred = prepare_strategies(bars_from(prices, prices), inputs, start=FEB, end=DATES[-1])
    assert inferred.market.delisting().tolist() == [-1, -1]  # merely suspended
