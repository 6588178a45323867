"""The simulated market: contract, determinism, A-share texture and the planted effects."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from schemas.bars import BarsSchema, BenchmarkSchema
from tasks.sources.sim import BENCHMARK_SYMBOL, SimConfig, simulate_market

SMALL = SimConfig(n_stocks=60, start=date(2012, 1, 1), end=date(2014, 12, 31), seed=7)


@pytest.fixture(scope="module")
def small():
    return simulate_market(SMALL)


def _daily_returns(bars: pl.DataFrame) -> pl.DataFrame:
    """Close-to-close returns between consecutive rows of a symbol (traded rows only)."""
    return (
        bars.filter(pl.col("volume") > 0)
        .with_columns(prev=pl.col("close").shift(1).over("symbol"))
        .with_columns(ret=pl.col("close") / pl.col("prev") - 1)
        .drop_nulls("ret")
    )


def test_bars_and_benchmark_follow_the_contract(small):
    bars, bench = small.bars, small.benchmark
    assert bars.columns == ["symbol", "date", "open", "high", "low", "close", "volume", "amount"]
    assert bars.schema["symbol"] == pl.String and bars.schema["date"] == pl.Date
    assert all(bars.schema[c] == pl.Float64 for c in bars.columns[2:])
    BarsSchema.validate(bars, lazy=True)
    BenchmarkSchema.validate(bench, lazy=True)
    assert bars.equals(bars.sort("symbol", "date"))
    assert bars.select(pl.struct("symbol", "date").is_unique().all()).item()
    assert set(bench["symbol"]) == {BENCHMARK_SYMBOL}
    assert bench["date"].is_sorted() and bench["date"].is_unique().all()
    assert set(bars["date"].unique()) <= set(bench["date"])
    assert bars["symbol"].n_unique() == SMALL.n_stocks
    assert bars["symbol"].min() == "SIM0001"
    report = small.report
    assert report.rows == bars.height and report.stocks == SMALL.n_stocks
    assert any("planted momentum" in n for n in report.notes)


def test_calendar_is_weekdays_without_fixed_holidays(small):
    days = small.benchmark["date"]
    assert (days.dt.weekday() <= 5).all()
    for holiday in (date(2013, 1, 1), date(2013, 10, 1), date(2014, 5, 1)):
        assert holiday not in days.to_list()
    assert date(2013, 1, 2) in days.to_list()


def test_same_seed_same_frames_and_different_seed_differs():
    cfg = SimConfig(n_stocks=20, start=date(2015, 1, 1), end=date(2015, 12, 31), seed=3)
    a, b = simulate_market(cfg), simulate_market(cfg)
    assert a.bars.equals(b.bars) and a.benchmark.equals(b.benchmark)
    c = simulate_market(cfg.model_copy(update={"seed": 4}))
    assert not a.bars.equals(c.bars)


def test_config_is_frozen_and_validated():
    with pytest.raises(ValidationError):
        SMALL.n_stocks = 5  # type: ignore[misc]
    with pytest.raises(ValidationError, match="after start"):
        SimConfig(start=date(2015, 1, 1), end=date(2015, 1, 10))
    with pytest.raises(ValidationError):
        SimConfig(effects="maybe")
    with pytest.raises(ValidationError):
        SimConfig(garch_alpha=0.2, garch_beta=0.85)


def test_price_limits_bind_and_are_never_exceeded(small):
    rets = _daily_returns(small.bars)["ret"]
    assert rets.max() <= 0.1 + 1e-9 and rets.min() >= -0.1 - 1e-9
    assert (rets >= 0.1 - 1e-9).sum() > 0, "no limit-up close"
    assert (rets <= -0.1 + 1e-9).sum() > 0, "no limit-down close"


def test_suspensions_listings_and_delistings_exist(small):
    bars, days = small.bars, small.benchmark["date"]
    zero = bars.filter(pl.col("volume") == 0)
    assert zero.height > 0, "no volume-0 suspension rows"
    # A volume-0 row carries the previous close in all four prices (never fake prices).
    carried = bars.with_columns(prev=pl.col("close").shift(1).over("symbol")).filter(
        pl.col("volume") == 0
    )
    for col in ("open", "high", "low", "close"):
        assert (carried[col] == carried["close"]).all()
    assert ((carried["prev"] == carried["close"]) | carried["prev"].is_null()).all()
    assert (zero["amount"] == 0).all()

    index_of = {d: i for i, d in enumerate(days.to_list())}
    spans = bars.group_by("symbol").agg(
        first=pl.col("date").min(), last=pl.col("date").max(), n=pl.len()
    )
    first = np.array([index_of[d] for d in spans["first"]])
    last = np.array([index_of[d] for d in spans["last"]])
    assert (first == 0).any() and (first > 0).sum() >= 5, "listings are not staggered"
    assert (last < len(days) - 1).any(), "no delisting"
    missing = (last - first + 1) - spans["n"].to_numpy()
    assert (missing > 0).sum() >= 5, "no missing-row suspensions"


def test_benchmark_is_the_cap_weighted_index_of_listed_stocks():
    # With a single industry-free stock universe listed throughout, the index return lies
    # within the range of the stocks' returns each day (a weighted average of them).
    cfg = SimConfig(
        n_stocks=5,
        start=date(2015, 1, 1),
        end=date(2015, 6, 30),
        listed_at_start=1.0,
        delisted_fraction=0.0,
        suspension_rate=0.0,
    )
    data = simulate_market(cfg)
    wide = data.bars.pivot(on="symbol", index="date", values="close").sort("date")
    stock_ret = wide.drop("date").to_numpy()
    stock_ret = stock_ret[1:] / stock_ret[:-1] - 1
    index = data.benchmark.sort("date")["close"].to_numpy()
    index_ret = index[1:] / index[:-1] - 1
    assert index[0] == pytest.approx(1000.0)
    assert (index_ret <= stock_ret.max(axis=1) + 1e-12).all()
    assert (index_ret >= stock_ret.min(axis=1) - 1e-12).all()
