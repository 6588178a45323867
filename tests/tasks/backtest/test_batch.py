"""The batched kernel: every variant equals a single-variant run, trade for trade, nav for nav."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest import MarketConfig, market_arrays
from cnnlstm.tasks.backtest.api import (
    cost_params,
    market_rules,
    simulate_batch,
    stack_orders,
)
from cnnlstm.tasks.backtest.engine import TRADE_DTYPE, simulate_nb
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.strategy.strategies import monthly_orders
from cnnlstm.tasks.strategy.timing import timing_plan

START, END = date(2016, 1, 1), date(2016, 12, 31)


@pytest.fixture(scope="module")
def sim_market():
    data = load_source("sim:", n_stocks=30, start=date(2015, 1, 1), end=END)
    market = market_arrays(data.bars, start=date(2015, 12, 31), end=END)
    return data.bars, market


def _random_orders(market, rng, n_variants: int, *, drop_months: bool = False):
    """Random monthly selections; every other variant timed by random signals."""
    months = sorted({d.replace(day=1) for d in market.dates[1:]})
    out = []
    for v in range(n_variants):
        kept = months[: len(months) - v] if drop_months else months
        rows = [
            (m, s)
            for m in kept
            for s in rng.choice(market.symbols, size=rng.integers(1, 6), replace=False)
        ]
        sel = pl.DataFrame(rows, schema={"month": pl.Date, "symbol": pl.String}, orient="row")
        plan = None
        if v % 2:
            signals = pl.DataFrame(
                {
                    "symbol": [s for s in market.symbols for _ in market.dates],
                    "date": [d for _ in market.symbols for d in market.dates],
                    "signal": rng.choice([-1, 1], size=len(market.symbols) * len(market.dates)),
                }
            )
            plan, _ = timing_plan(sel, signals, market.dates, execution="open")
        out.append(monthly_orders(market, f"v{v}", sel, execution="open", timing=plan))
    return out


def _single(market, orders, cfg):
    """The kernel on one strategy, called directly (the reference)."""
    rules, params = market_rules(market, cfg), cost_params(cfg)
    trades = np.zeros(100_000, dtype=TRADE_DTYPE)
    n, nav, cash, value, costs, counts, ruined = simulate_nb(
        market.open,
        market.close,
        market.tradable,
        orders.instr_open,
        orders.instr_close,
        market.month_end,
        market.delisting(),
        orders.alloc_day,
        orders.alloc_session,
        orders.members,
        rules,
        params,
        trades,
        np.zeros((0, 0)),
    )
    return trades[:n], nav, cash, costs, counts, ruined


@pytest.mark.parametrize("capital", [1_000_000.0, 30_000.0])
@pytest.mark.parametrize("drop_months", [False, True])
def test_each_variant_equals_its_single_run(sim_market, capital, drop_months):
    _, market = sim_market
    cfg = MarketConfig.preset("cn", initial_capital=capital)
    orders = _random_orders(market, np.random.default_rng(7), 6, drop_months=drop_months)
    out = simulate_batch(market, stack_orders(orders, len(market.dates)), cfg)
    assert out.nav.shape == (6, len(market.dates))
    for v, one in enumerate(orders):
        trades, nav, cash, costs, counts, ruined = _single(market, one, cfg)
        got = out.outcome(v)
        assert len(trades) > 0
        assert got.records.tobytes() == trades.tobytes()  # trade for trade
        np.testing.assert_array_equal(got.series["nav"], nav)  # nav for nav, exactly
        np.testing.assert_array_equal(got.series["cash"], cash)
        np.testing.assert_array_equal(got.series["costs"], costs)
        np.testing.assert_array_equal(got.counts, counts)
        assert got.ruined_day == ruined


def test_counts_only_batch_keeps_the_series(sim_market):
    _, market = sim_market
    cfg = MarketConfig.preset("cn")
    orders = _random_orders(market, np.random.default_rng(3), 3)
    batch = stack_orders(orders, len(market.dates))
    full = simulate_batch(market, batch, cfg)
    bare = simulate_batch(market, batch, cfg, record_trades=False)
    assert bare.records.shape == (3, 0)
    np.testing.assert_array_equal(bare.nav, full.nav)
    np.testing.assert_array_equal(bare.n_trades, full.n_trades)


def test_a_batch_that_does_not_fit_the_market_is_refused(sim_market):
    _, market = sim_market
    orders = _random_orders(market, np.random.default_rng(1), 2)
    batch = stack_orders(orders, len(market.dates))
    bad = type(batch)(
        batch.names,
        batch.instr_open[:, 1:],
        batch.instr_close,
        batch.alloc_day,
        batch.alloc_session,
        batch.members,
    )
    with pytest.raises(UserInputError, match="instr_open"):
        simulate_batch(market, bad, MarketConfig.preset("cn"))
