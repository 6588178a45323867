"""LSTM windows: values by hand, labels per execution mode, suspensions, sampling, no look-ahead."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import random_walk_bars

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.features import WINDOW_FIELDS, LstmWindowConfig, build_lstm_windows


def make_bars(n_stocks: int = 4, n_days: int = 120, seed: int = 0) -> pl.DataFrame:
    """Weekday bars of a small random-walk market, every stock traded every day."""
    days = pl.date_range(date(2020, 1, 1), date(2021, 12, 31), "1d", eager=True)
    days = days.filter(days.dt.weekday() <= 5).head(n_days)
    return random_walk_bars(n_stocks, days, seed, amount_markup=1.001)


def one_stock(bars: pl.DataFrame, symbol: str) -> pl.DataFrame:
    return bars.filter(pl.col("symbol") == symbol).sort("date")


def zscore(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(axis=0)) / a.std(axis=0)


def test_window_values_and_labels_by_hand():
    bars = make_bars()
    s = one_stock(bars, "S01")
    d = 50  # decision day index
    keys = pl.DataFrame({"symbol": ["S01"], "date": [s["date"][d]]})
    win = build_lstm_windows(bars, LstmWindowConfig(), keys=keys)
    raw = s.select(WINDOW_FIELDS).to_numpy()[d - 29 : d + 1].copy()  # (30, 6)
    raw[:, 4:] = np.log1p(raw[:, 4:])
    assert win.x.shape == (1, 30, 6) and win.x.dtype == np.float32
    np.testing.assert_allclose(win.x[0], zscore(raw), atol=1e-5)  # float32 grid
    fwd_open = s["close"][d + 5] / s["open"][d + 1] - 1
    assert win.keys["fwd_return"][0] == pytest.approx(fwd_open, rel=1e-9)
    assert win.y.tolist() == [int(fwd_open > 0)] and win.y.dtype == np.int64
    close_mode = build_lstm_windows(bars, LstmWindowConfig(execution="close"), keys=keys)
    fwd_close = s["close"][d + 5] / s["close"][d] - 1
    assert close_mode.keys["fwd_return"][0] == pytest.approx(fwd_close, rel=1e-9)
    np.testing.assert_array_equal(close_mode.x, win.x)


def test_every_window_is_standardised_and_only_full_windows_exist():
    bars = make_bars()
    win = build_lstm_windows(bars, LstmWindowConfig(max_windows_per_month=None))
    # 4 stocks x (120 days - 29 without a full window - 5 without a label)
    assert len(win) == 4 * (120 - 29 - 5)
    np.testing.assert_allclose(win.x.mean(axis=1, dtype=np.float64), 0.0, atol=1e-6)
    np.testing.assert_allclose(win.x.std(axis=1, dtype=np.float64), 1.0, atol=1e-6)
    assert win.keys.select("date", "symbol").equals(win.keys.select("date", "symbol").sort("*"))
    assert win.counts["windows"] == len(win) == len(win.y)
    unlabelled = build_lstm_windows(
        bars, LstmWindowConfig(max_windows_per_month=None), with_labels=False
    )
    assert unlabelled.y is None and len(unlabelled) == 4 * (120 - 29)
    assert unlabelled.keys["fwd_return"].null_count() == 4 * 5


def test_suspended_days_break_windows_and_labels():
    bars = make_bars()
    days = one_stock(bars, "S02")["date"]
    zero = (pl.col("symbol") == "S02") & (pl.col("date") == days[60])
    suspended = bars.with_columns(volume=pl.when(zero).then(0.0).otherwise(pl.col("volume")))
    keys = pl.DataFrame({"symbol": ["S02"] * 5, "date": [days[i] for i in (54, 55, 59, 60, 90)]})
    win = build_lstm_windows(suspended, LstmWindowConfig(), keys=keys)
    # day 54: exit day 59 fine; day 55: exit day 60 suspended -> no label; day 59: entry
    # open(60) suspended -> no label; day 60..89: window contains day 60; day 90 does not.
    assert win.keys["date"].to_list() == [days[54], days[90]]
    reasons = dict(zip(win.skipped["date"], win.skipped["reason"], strict=True))
    assert reasons[days[55]].startswith("label not known")
    assert reasons[days[59]].startswith("label not known")
    assert reasons[days[60]] == "not traded on every day of the window"
    close_mode = build_lstm_windows(suspended, LstmWindowConfig(execution="close"), keys=keys)
    # close mode: day 59 enters at its own close and exits at close(64): known
    assert close_mode.keys["date"].to_list() == [days[54], days[59], days[90]]
    missing = build_lstm_windows(bars.filter(~zero), LstmWindowConfig(), keys=keys)
    assert missing.keys.equals(win.keys)  # a missing row and a volume-0 row act the same


def test_keys_keep_their_order_and_report_unknowns():
    bars = make_bars()
    days = one_stock(bars, "S00")["date"]
    keys = pl.DataFrame(
        {"symbol": ["S03", "S00", "ZZZ", "S01"], "date": [days[80], days[40], days[40], days[10]]}
    )
    win = build_lstm_windows(bars, LstmWindowConfig(), keys=keys, with_labels=False)
    assert win.keys["symbol"].to_list() == ["S03", "S00"]
    assert win.skipped["reason"].to_list() == [
        "symbol not in bars",
        "not traded on every day of the window",
    ]
    with pytest.raises(UserInputError, match="keys lack"):
        build_lstm_windows(bars, LstmWindowConfig(), keys=keys.drop("date"))


def test_sampling_caps_windows_per_month_reproducibly():
    bars = make_bars(n_stocks=10, n_days=200)
    cfg = LstmWindowConfig(max_windows_per_month=15, seed=3)
    a = build_lstm_windows(bars, cfg)
    b = build_lstm_windows(bars, cfg)
    per_month = a.keys.group_by(pl.col("date").dt.truncate("1mo")).len()
    assert per_month["len"].max() == 15
    assert a.keys.equals(b.keys) and np.array_equal(a.x, b.x)
    c = build_lstm_windows(bars, cfg.model_copy(update={"seed": 4}))
    assert not a.keys.equals(c.keys)
    assert a.counts["sampled_out"] == a.counts["full_windows"] - a.counts["without_label"] - len(a)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=35, max_value=110),
    mode=st.sampled_from(["truncate", "scale", "suspend"]),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_bars_after_a_day_change_no_window_up_to_it(cut, mode, seed):
    bars = make_bars()
    cut_day = one_stock(bars, "S00")["date"][cut]
    after = pl.col("date") > cut_day
    rng = np.random.default_rng(seed)
    if mode == "truncate":
        changed = bars.filter(~after)
    elif mode == "scale":
        noise = pl.Series(rng.uniform(0.5, 2.0, bars.height))
        changed = bars.with_columns(
            *[pl.when(after).then(pl.col(c) * noise).otherwise(pl.col(c)) for c in WINDOW_FIELDS]
        )
    else:
        off = pl.Series(rng.random(bars.height) < 0.3)
        changed = bars.with_columns(
            volume=pl.when(after & off).then(0.0).otherwise(pl.col("volume"))
        )
    keys = bars.filter(~after).select("symbol", "date")
    cfg = LstmWindowConfig()
    before = build_lstm_windows(bars, cfg, keys=keys, with_labels=False)
    later = build_lstm_windows(changed, cfg, keys=keys, with_labels=False)
    assert len(before) > 0
    assert later.keys.select("symbol", "date").equals(before.keys.select("symbol", "date"))
    np.testing.assert_array_equal(later.x, before.x)


def test_history_shorter_than_a_window_gives_no_windows():
    win = build_lstm_windows(make_bars(n_days=20), LstmWindowConfig())
    assert win.x.shape == (0, 30, 6) and win.y.shape == (0,) and win.keys.height == 0


def _sampled_by_sort_key(bars: pl.DataFrame, cfg: LstmWindowConfig) -> pl.DataFrame:
    """The per-month sample as first written: one stable sort of (month << 32 | priority)."""
    every = build_lstm_windows(bars, cfg.model_copy(update={"max_windows_per_month": None}))
    month = every.keys["date"].dt.year() * 12 + every.keys["date"].dt.month()
    priority = np.random.default_rng(cfg.seed).integers(0, 2**31, len(every), dtype=np.int64)
    order = np.argsort((month.to_numpy().astype(np.int64) << 32) | priority, kind="stable")
    sorted_month = month.to_numpy()[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_month, sorted_month, side="left")
    return every.keys[np.sort(order[rank < cfg.max_windows_per_month])]


@pytest.mark.parametrize("cap", [1, 7, 400])
def test_per_month_sampling_keeps_the_windows_a_sort_by_month_and_priority_keeps(cap):
    bars = make_bars(n_stocks=9, n_days=260, seed=4)
    cfg = LstmWindowConfig(max_windows_per_month=cap, seed=11)
    assert build_lstm_windows(bars, cfg).keys.equals(_sampled_by_sort_key(bars, cfg))


def test_windows_build_in_bounded_memory_per_stock_day():
    import tracemalloc

    bars = make_bars(n_stocks=300, n_days=500, seed=2)
    cells = 300 * 500
    tracemalloc.start()
    try:
        build_lstm_windows(bars, LstmWindowConfig(max_windows_per_month=10))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the float64 panel of six fields, its float64 stack and a float32 copy, and a sort key,
    # month and rank array per candidate window took ~150 bytes per stock-day; the float32
    # stack built once and the sampling by month runs take ~70
    assert peak / cells < 90
