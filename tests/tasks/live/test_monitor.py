from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from cnnlstm.tasks.live.monitor import below_floor_for, hit_rate, realized_rank_ic


def _bars(n_days: int = 12, n_stocks: int = 5, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_stocks):
        price = 10.0
        for d in range(n_days):
            open_ = price * (1 + rng.normal(0, 0.01))
            price = open_ * (1 + rng.normal(0, 0.02))
            rows.append((f"S{s}", date(2020, 1, 1) + timedelta(d), open_, price, 1e5))
    return pl.DataFrame(rows, schema=["symbol", "date", "open", "close", "volume"], orient="row")


def test_rank_ic_is_one_for_scores_ordered_like_the_returns():
    bars = _bars()
    start, end = date(2020, 1, 2), date(2020, 1, 10)
    c0 = dict(bars.filter(pl.col("date") == start).select("symbol", "close").iter_rows())
    c1 = dict(bars.filter(pl.col("date") == end).select("symbol", "close").iter_rows())
    scores = pl.DataFrame({"symbol": list(c0), "score": [c1[s] / c0[s] for s in c0]})
    scores = scores.vstack(pl.DataFrame({"symbol": ["GONE"], "score": [0.0]}))
    ic, used, left_out = realized_rank_ic(scores, bars, rebalance=start, month_last=end)
    assert ic == 1.0 and used == 5 and left_out == 1
    flipped = scores.with_columns(score=-pl.col("score"))
    assert realized_rank_ic(flipped, bars, rebalance=start, month_last=end)[0] == -1.0


def test_hit_rate_counts_signals_matching_the_label_return():
    bars = _bars().sort("symbol", "date")
    fwd = bars.with_columns(
        fwd=(pl.col("close").shift(-3) / pl.col("open").shift(-1) - 1).over("symbol")
    ).filter(pl.col("fwd").is_not_null())
    right = fwd.select("symbol", "date", signal=pl.when(pl.col("fwd") > 0).then(1).otherwise(-1))
    rate, n, left_out = hit_rate(right, bars, hold_days=3)
    assert rate == 1.0 and n == right.height and left_out == 0
    wrong = right.with_columns(signal=-pl.col("signal"))
    assert hit_rate(wrong, bars, hold_days=3)[0] == 0.0
    late = pl.DataFrame({"symbol": ["S0"], "date": [date(2020, 1, 12)], "signal": [1]})
    assert hit_rate(late, bars, hold_days=3) == (None, 0, 1)  # its horizon has not passed


def test_alert_only_after_k_months_below_the_floor():
    assert below_floor_for([0.05, -0.01, -0.02, -0.03], 0.0, 3)
    assert not below_floor_for([-0.01, 0.02, -0.03], 0.0, 3)
    assert not below_floor_for([-0.01, None, -0.03], 0.0, 3)
    assert not below_floor_for([-0.01], 0.0, 3)
