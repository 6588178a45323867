"""Qlib's convention: sum-mode annualization over 238 days, drawdown on the cumulative sum."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from cnnlstm.tasks.report.qlib_metrics import qlib_rows, risk_analysis_sum


def test_risk_analysis_sum_by_hand():
    r = np.array([0.01, -0.02, 0.03])
    out = risk_analysis_sum(r)
    mean, std = 0.02 / 3, float(np.std(r, ddof=1))
    assert out["annualized_return"] == pytest.approx(mean * 238)
    assert out["information_ratio"] == pytest.approx(mean / std * math.sqrt(238))
    # cumulative sum 0.01, -0.01, 0.02: the fall from 0.01 to -0.01
    assert out["max_drawdown"] == pytest.approx(-0.02)


def test_qlib_rows_measure_excess_over_the_benchmark_not_the_compounded_curve():
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(4)]
    bench = [1.0, 1.01, 1.01, 1.02]
    strat = [1.02, 1.03, 1.0, 1.05]

    def rows(name, values):
        return pl.DataFrame(
            {"date": days, "strategy": name, "nav": values, "position_ratio": 1.0, "cash": 0.0,
             "costs": 0.0}
        )  # fmt: skip

    nav = pl.concat([rows("benchmark", bench), rows("cnn", strat)])
    out = qlib_rows(nav, {"mean_ic": 0.05, "ic_ir": 0.5, "mean_rank_ic": 0.06, "rank_ic_ir": 0.6})
    full_b, full_s = np.array([1.0, *bench]), np.array([1.0, *strat])
    excess = np.diff(full_s) / full_s[:-1] - np.diff(full_b) / full_b[:-1]
    assert out["strategies"]["cnn"]["excess_return"] == pytest.approx(excess.mean() * 238)
    assert "benchmark" not in out["strategies"]
    assert out["cnn"]["rank_icir"] == 0.6
    assert "238" in out["convention"]
