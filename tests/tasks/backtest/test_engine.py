"""Hand-computed cases of a few bars for the backtest kernel and its API."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnlstm.tasks.backtest import MarketConfig, run_backtest
from cnnlstm.tasks.backtest.api import market_arrays
from cnnlstm.tasks.strategy.strategies import monthly_orders
from tests.tasks.backtest.helpers import DATES, FEB, bars_from, flat_market, selection

FREE = MarketConfig.frictionless().model_copy(update={"initial_capital": 1000.0})
NAN = math.nan


def _run(market, sel, cfg=FREE, execution="open", timing=None):
    orders = monthly_orders(market, "s", sel, execution=execution, timing=timing)
    return run_backtest(market, [orders], cfg, record_positions=True)


def test_open_execution_buys_first_open_and_sells_last_close():
    opens = {"A": [10, 10, 11, 11, 11, 11, 11], "B": [20, 20, 21, 21, 21, 21, 21]}
    closes = {"A": [10, 10, 11, 11, 11, 12.5, 12], "B": [20, 20, 21, 21, 21, 22.5, 22]}
    market = market_arrays(bars_from(opens, closes))
    res = _run(market, selection(FEB, "A", "B"))
    t = res.trades.sort("date", "side", "symbol")
    assert t["date"].to_list() == [DATES[2], DATES[2], DATES[5], DATES[5]]
    assert t["side"].to_list() == ["buy", "buy", "sell", "sell"]
    assert t["price"].to_list() == [11, 21, 12.5, 22.5]
    assert t["reason"].to_list() == ["entry", "entry", "month_end", "month_end"]
    expected = 500 / 11 * 12.5 + 500 / 21 * 22.5
    nav = res.nav["nav"].to_numpy() * 1000
    np.testing.assert_allclose(nav, [1000, 1000, 1000, 1000, 1000, expected, expected])
    assert res.nav["position_ratio"].to_list()[2:5] == [1.0, 1.0, 1.0]


def test_close_execution_buys_at_rebalance_close():
    market = flat_market({"A": [10, 12, 13, 14, 15, 18, 20]})
    res = _run(market, selection(FEB, "A"), execution="close")
    t = res.trades
    assert t["date"].to_list() == [DATES[1], DATES[5]]
    assert t["session"].to_list() == ["close", "close"]
    assert t["price"].to_list() == [12, 18]
    np.testing.assert_allclose(res.nav["nav"].to_numpy()[-1], 18 / 12)


def test_costs_commission_stamp_duty_and_slippage_add_up():
    cfg = MarketConfig(
        commission_rate=0.001,
        min_commission=5.0,
        stamp_duty_rate=0.001,
        slippage_rate=0.001,
        initial_capital=10_000.0,
    )
    market = flat_market({"A": [10, 10, 10, 10, 10, 11, 11]})
    res = _run(market, selection(FEB, "A"), cfg)
    buy, sell = res.trades.sort("date").rows(named=True)
    shares = 10_000 / (10 * 1.002)  # commission 0.1% (> min 5) + slippage 0.1% on top
    assert buy["shares"] == pytest.approx(shares)
    assert buy["cost"] == pytest.approx(shares * 10 * 0.002)
    assert sell["cost"] == pytest.approx(shares * 11 * 0.003)  # + stamp duty on the sell
    final_cash = shares * 11 - sell["cost"]
    assert res.nav["nav"][-1] * 10_000 == pytest.approx(final_cash)
    assert res.nav["costs"].sum() * 10_000 == pytest.approx(buy["cost"] + sell["cost"])


def test_minimum_commission_binds_on_a_small_trade():
    cfg = MarketConfig(commission_rate=0.001, min_commission=5.0, initial_capital=1000.0)
    market = flat_market({"A": [10] * 7})
    buy = _run(market, selection(FEB, "A"), cfg).trades.row(0, named=True)
    assert buy["shares"] == pytest.approx((1000 - 5) / 10)
    assert buy["cost"] == pytest.approx(5.0)


def test_lots_round_down_and_leave_cash():
    cfg = FREE.model_copy(update={"lot_size": 100, "initial_capital": 10_000.0})
    market = flat_market({"A": [10.3] * 7})
    res = _run(market, selection(FEB, "A"), cfg)
    assert res.trades["shares"].to_list() == [900, 900]
    assert res.nav["cash"][3] * 10_000 == pytest.approx(10_000 - 900 * 10.3)


def test_limit_up_blocks_the_buy_until_the_next_open():
    cn = MarketConfig.preset("cn", initial_capital=10_000.0).model_copy(
        update={"commission_rate": 0, "min_commission": 0, "stamp_duty_rate": 0, "slippage_rate": 0}
    )
    # Feb 3 opens +10% on Jan 31's close: no buy; Feb 4 opens +1%: bought.
    opens = {"A": [10, 10, 11, 11.11, 11, 11, 11]}
    closes = {"A": [10, 10, 11, 11, 11, 11, 11]}
    res = _run(market_arrays(bars_from(opens, closes)), selection(FEB, "A"), cn)
    buy = res.trades.row(0, named=True)
    assert buy["date"] == DATES[3]
    assert buy["price"] == 11.11
    assert buy["reason"] == "entry; retried after limit_up (1 sessions)"
    assert res.blocked["s"] == 1


def test_limit_down_blocks_the_month_end_sell():
    cn = MarketConfig.preset("cn", initial_capital=10_000.0, commission_rate=0, min_commission=0)
    cn = cn.model_copy(update={"stamp_duty_rate": 0, "slippage_rate": 0})
    # Feb 6 closes -10%: no sell; Mar 2 opens at 8.1 (limit-down again); sold at its close.
    opens = {"A": [10, 10, 10, 10, 10, 10, 8.1]}
    closes = {"A": [10, 10, 10, 10, 10, 9, 8.6]}
    res = _run(market_arrays(bars_from(opens, closes)), selection(FEB, "A"), cn)
    sell = res.trades.filter(pl.col("side") == "sell").row(0, named=True)
    assert sell["date"] == DATES[6]
    assert sell["price"] == 8.6 and sell["session"] == "close"
    assert sell["reason"] == "month_end; retried after limit_down (2 sessions)"


def test_suspended_stock_cannot_trade_and_keeps_its_last_price():
    opens = {"A": [10, 10, 10, 12, 12, 12, 12], "B": [10] * 7}
    closes = {"A": [10, 10, 10, 12, 12, 12, 12], "B": [10, 10, 10, 10, 14, 10, 10]}
    vol = {"A": [1000.0] * 7, "B": [1000, 1000, 1000, 1000, 0, 1000, 1000]}
    # B: no bar on Feb 3 (no buy), volume 0 on Feb 5 (keeps Feb 4's close, not the 14).
    closes["B"][2] = NAN
    market = market_arrays(bars_from(opens, closes, vol))
    res = _run(market, selection(FEB, "A", "B"))
    buy_b = res.trades.filter((pl.col("symbol") == "B") & (pl.col("side") == "buy")).row(
        0, named=True
    )
    assert buy_b["date"] == DATES[3]
    assert buy_b["reason"] == "entry; retried after suspended (1 sessions)"
    nav = res.nav["nav"].to_numpy() * 1000
    assert nav[4] == pytest.approx(500 / 10 * 12 + 500)  # A at 12, B kept at 10
    assert res.nav["position_ratio"][2] == pytest.approx(0.5)  # B's slot is still cash


def test_t_plus_1_blocks_selling_on_the_day_bought():
    # March has one day here: bought at its open, it cannot be closed at its close.
    dates = [DATES[0], DATES[1], DATES[6]]
    prices = {"A": [10.0, 10.0, 10.5]}
    market = market_arrays(bars_from(prices, prices, dates=dates))
    cfg = MarketConfig.preset("cn", initial_capital=10_000.0, t_plus_1=True)
    sel = selection(DATES[6].replace(day=1), "A")
    assert _run(market, sel, cfg).trades["side"].to_list() == ["buy"]
    free = _run(market, sel, FREE).trades
    assert free["side"].to_list() == ["buy", "sell"]


def test_cash_plus_positions_equals_nav_and_costs_reconcile():
    rng = np.random.default_rng(3)
    n_days, symbols = 80, [f"S{i}" for i in range(12)]
    from datetime import date, timedelta

    days = [d for d in (date(2021, 1, 1) + timedelta(k) for k in range(120)) if d.weekday() < 5]
    days = days[:n_days]
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.03, (n_days, len(symbols))), axis=0))
    opens = close * np.exp(rng.normal(0, 0.01, close.shape))
    vol = np.where(rng.random(close.shape) < 0.1, 0.0, 1000.0)
    bars = bars_from(
        {s: list(opens[:, i]) for i, s in enumerate(symbols)},
        {s: list(close[:, i]) for i, s in enumerate(symbols)},
        {s: list(vol[:, i]) for i, s in enumerate(symbols)},
        dates=days,
    )
    market = market_arrays(bars)
    months = sorted({d.replace(day=1) for d in days})[1:]
    sel = pl.concat([selection(m, *rng.choice(symbols, 4, replace=False).tolist()) for m in months])
    cfg = MarketConfig.preset("cn", lot_size=100, initial_capital=1e6)
    res = _run(market, sel, cfg)
    held = res.positions["s"]
    last = res.positions_table("s")
    assert last.height > 0
    ffill = np.where(market.tradable, market.close, np.nan)
    for i in range(1, n_days):
        ffill[i] = np.where(np.isnan(ffill[i]), ffill[i - 1], ffill[i])
    value = np.nansum(held * np.nan_to_num(ffill), axis=1)
    nav, cash = res.nav["nav"].to_numpy() * 1e6, res.nav["cash"].to_numpy() * 1e6
    np.testing.assert_allclose(cash + value, nav, rtol=1e-10)
    t = res.trades
    signed = np.where(t["side"] == "buy", -1.0, 1.0) * t["price"] * t["shares"]
    assert 1e6 + signed.sum() - t["cost"].sum() == pytest.approx(cash[-1])
    assert t["cost"].sum() == pytest.approx(res.nav["costs"].sum() * 1e6)
    assert (cash >= -1e-6).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cut=st.integers(5, 55), close_mode=st.booleans())
def test_prices_after_day_d_change_nothing_on_or_before_d(seed, cut, close_mode):
    from datetime import date, timedelta

    from cnnlstm.tasks.backtest.api import MarketArrays

    rng = np.random.default_rng(seed)
    days = [d for d in (date(2021, 1, 1) + timedelta(k) for k in range(90)) if d.weekday() < 5]
    n_days, n_stocks = len(days), 8
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.04, (n_days, n_stocks)), axis=0))
    opens = close * np.exp(rng.normal(0, 0.02, close.shape))
    tradable = rng.random(close.shape) > 0.1
    market = MarketArrays(days, [f"S{i}" for i in range(n_stocks)], opens, close, tradable)
    months = sorted({d.replace(day=1) for d in days})[1:]
    sel = pl.concat([selection(m, *rng.choice(market.symbols, 3, replace=False)) for m in months])
    cfg = MarketConfig.preset("cn", lot_size=100)
    mode = "close" if close_mode else "open"
    base = _run(market, sel, cfg, execution=mode)
    shocked = rng.lognormal(0, 0.3, (n_days - cut - 1, n_stocks))
    later = MarketArrays(
        days,
        market.symbols,
        np.vstack([opens[: cut + 1], opens[cut + 1 :] * shocked]),
        np.vstack([close[: cut + 1], close[cut + 1 :] * shocked]),
        np.vstack([tradable[: cut + 1], rng.random(shocked.shape) > 0.5]),
    )
    again = _run(later, sel, cfg, execution=mode)
    upto = pl.col("date") <= days[cut]
    assert base.trades.filter(upto).equals(again.trades.filter(upto))
    assert base.nav.filter(upto).equals(again.nav.filter(upto))


def test_delisted_holding_is_settled_at_its_last_close():
    # B's last bar is Feb 4 and the data go on for 3 sessions (> delist_after=2): delisted.
    prices = {"A": [10.0] * 7, "B": [10, 10, 10, 12, NAN, NAN, NAN]}
    market = market_arrays(bars_from(prices, prices), delist_after=2)
    assert market.delisting().tolist() == [-1, 4]
    res = _run(market, selection(FEB, "A", "B"))
    sell = res.trades.filter(pl.col("symbol") == "B").row(1, named=True)
    assert (sell["date"], sell["price"], sell["reason"]) == (DATES[4], 12.0, "delisted")
    assert res.nav["nav"][-1] * 1000 == pytest.approx(500 + 50 * 12)
    assert res.nav["position_ratio"][4] == pytest.approx(500 / 1100)  # B's 600 is cash now
