"""The null baselines: random draws built exactly as the strategies' own orders, reproducibly."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest import MarketConfig, market_arrays
from cnnlstm.tasks.backtest.api import simulate, simulate_batch
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.strategy.nulls import (
    RANDOM_SELECTION,
    RANDOM_TIMING,
    NullConfig,
    buy_share,
    eligible_columns,
    held_batch,
    month_plans,
    random_selection_batch,
    random_timing_batch,
    run_nulls,
)
from cnnlstm.tasks.strategy.strategies import monthly_orders
from cnnlstm.tasks.strategy.timing import held_states, timing_plan

END = date(2016, 12, 31)


@pytest.fixture(scope="module")
def sim():
    data = load_source("sim:", n_stocks=30, start=date(2015, 1, 1), end=END)
    market = market_arrays(data.bars, start=date(2015, 12, 31), end=END)
    months = sorted({d.replace(day=1) for d in market.dates[1:]})
    rng = np.random.default_rng(0)
    # eligible: 20 of the 30 stocks each month; the "CNN" picks 3 of them
    universe = pl.DataFrame(
        [(m, s) for m in months for s in rng.choice(market.symbols, 20, replace=False)],
        schema={"month": pl.Date, "symbol": pl.String},
        orient="row",
    )
    cnn = universe.group_by("month", maintain_order=True).head(3)
    signals = pl.DataFrame(
        {
            "symbol": [s for s in market.symbols for _ in market.dates],
            "date": [d for _ in market.symbols for d in market.dates],
            "signal": rng.choice([-1, 1], p=[0.7, 0.3], size=30 * len(market.dates)),
        }
    )
    return market, universe, cnn, signals


def _drawn_selection(market, plans, members):
    return pl.DataFrame(
        [
            (p.month, market.symbols[j])
            for m, p in enumerate(plans)
            for j in np.flatnonzero(members[m])
        ],
        schema={"month": pl.Date, "symbol": pl.String},
        orient="row",
    )


@pytest.mark.parametrize("execution", ["open", "close"])
def test_a_random_selection_draw_is_the_orders_of_its_drawn_selection(sim, execution):
    market, universe, cnn, _ = sim
    plans = month_plans(market, cnn, execution)
    eligible = eligible_columns(market, universe, plans)
    batch = random_selection_batch(market, plans, eligible, range(4), 11, execution)
    for v in range(4):
        drawn = _drawn_selection(market, plans, batch.members[v])
        counts = drawn.group_by("month").len().sort("month")["len"].to_list()
        assert counts == [3] * len(plans)  # as many as the CNN picked each month
        assert drawn.join(universe, on=["month", "symbol"], how="anti").height == 0  # eligible
        own = monthly_orders(market, "x", drawn, execution=execution)
        for name in ("instr_open", "instr_close", "alloc_day", "alloc_session", "members"):
            np.testing.assert_array_equal(getattr(batch, name)[v], getattr(own, name), name)
    cfg = MarketConfig.preset("cn")
    out = simulate_batch(market, batch, cfg, record_trades=False)
    own = monthly_orders(market, "x", _drawn_selection(market, plans, batch.members[2]))
    if execution == "open":
        np.testing.assert_array_equal(out.nav[2], simulate(market, own, cfg).series["nav"])


def test_draws_are_reproducible_whatever_the_chunk(sim):
    market, universe, cnn, _ = sim
    plans = month_plans(market, cnn, "open")
    eligible = eligible_columns(market, universe, plans)
    whole = random_selection_batch(market, plans, eligible, range(6), 5)
    tail = random_selection_batch(market, plans, eligible, range(4, 6), 5)
    np.testing.assert_array_equal(whole.members[4:], tail.members)
    other = random_selection_batch(market, plans, eligible, range(6), 6)
    assert not np.array_equal(whole.members, other.members)
    assert len({whole.members[v].tobytes() for v in range(6)}) == 6


def test_held_batch_is_the_timing_rule(sim):
    rng = np.random.default_rng(2)
    signals = rng.choice([-1, 1], size=(50, 21))
    for last in (None, 19):
        got = held_batch(signals, 5, last)
        for v in range(50):
            want = held_states(signals[v].tolist(), hold_days=5, last_buy_step=last)
            np.testing.assert_array_equal(got[v], want)


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_random_timing_at_the_extremes_is_the_rule_on_constant_signals(sim, share):
    market, _, cnn, _ = sim
    plans = month_plans(market, cnn, "open")
    batch = random_timing_batch(market, plans, share, range(2), 0, hold_days=5)
    constant = pl.DataFrame(
        {
            "symbol": [s for s in market.symbols for _ in market.dates],
            "date": [d for _ in market.symbols for d in market.dates],
            "signal": [1 if share == 1.0 else -1] * (30 * len(market.dates)),
        }
    )
    plan, _ = timing_plan(cnn, constant, market.dates, execution="open", hold_days=5)
    own = monthly_orders(market, "x", cnn, execution="open", timing=plan)
    for v in range(2):
        np.testing.assert_array_equal(batch.instr_open[v], own.instr_open)
        np.testing.assert_array_equal(batch.members[v], own.members)


def test_random_timing_draws_at_the_lstm_share(sim):
    market, _, cnn, signals = sim
    plans = month_plans(market, cnn, "open")
    share = buy_share(plans, market, signals)
    assert 0.2 < share < 0.4  # the fixture's signals are +1 with chance 0.3
    batch = random_timing_batch(market, plans, 1.0, range(1), 0)
    cells = sum(len(p.rows) * len(p.picks) for p in plans)
    held_all = int(batch.instr_open[0].sum())
    few = random_timing_batch(market, plans, share, range(40), 0).instr_open.sum() / 40
    assert 0 < few < held_all <= cells


def test_run_nulls_gives_every_draw_and_chunking_changes_nothing(sim):
    market, universe, cnn, signals = sim
    cfg = MarketConfig.preset("cn")
    kwargs = dict(selection=cnn, universe=universe, signals=signals)
    run = run_nulls(market, cfg, NullConfig(draws=8, seed=1), **kwargs)
    small = run_nulls(market, cfg, NullConfig(draws=8, seed=1, chunk_bytes=1), **kwargs)
    assert set(run.nav["null"].unique()) == {RANDOM_SELECTION, RANDOM_TIMING}
    assert run.nav.height == 2 * 8 * len(market.dates)
    assert run.nav.equals(small.nav)
    assert 0.2 < run.facts["lstm_buy_share"] < 0.4
    navs = (
        run.nav.filter(pl.col("null") == RANDOM_SELECTION)
        .group_by("draw")
        .agg(pl.col("nav").last())
    )
    assert navs["nav"].n_unique() == 8  # different draws, different outcomes


def test_a_month_with_fewer_eligible_than_picks_is_refused(sim):
    market, universe, cnn, _ = sim
    plans = month_plans(market, cnn, "open")
    with pytest.raises(UserInputError, match="eligible"):
        eligible_columns(market, universe.head(2), plans)
