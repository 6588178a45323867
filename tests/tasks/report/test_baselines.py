"""The null summary: band and percentile measured as Table 2 measures the strategy."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.report.baselines import annualized, null_summary, percentile_in
from cnnlstm.tasks.report.metrics import performance

DATES = [date(2020, 1, 1) + timedelta(days=i) for i in range(252)]


def _nav(strategy: str, growth: float) -> pl.DataFrame:
    values = growth ** (np.arange(1, 253) / 252)
    return pl.DataFrame(
        {
            "date": DATES,
            "strategy": strategy,
            "nav": values,
            "position_ratio": 1.0,
            "cash": 0.0,
            "costs": 0.0,
        }
    )


def _null(growths: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "null": "random_selection",
            "draw": np.repeat(np.arange(len(growths)), 252),
            "date": DATES * len(growths),
            "nav": np.concatenate([g ** (np.arange(1, 253) / 252) for g in growths]),
        }
    )


def test_the_strategy_is_placed_among_its_draws():
    nav = pl.concat([_nav("benchmark", 1.0), _nav("cnn", 1.10)])
    draws = [1.0 + 0.01 * i for i in range(20)]  # 0.00 .. 0.19 a year
    out = null_summary(_null(draws), nav)["random_selection"]
    assert out["strategy"] == "cnn" and out["draws"] == 20
    assert out["strategy_value"] == pytest.approx(
        performance(_nav("cnn", 1.10))["annualized_return"]
    )
    assert out["percentile"] == pytest.approx(100 * (10 + 0.5) / 20)  # 10 below, 1 tie
    assert out["mean"] == pytest.approx(0.095)
    assert out["p05"] < out["mean"] < out["p95"]


def test_annualized_is_table2s_formula():
    nav = _nav("cnn", 1.37)
    want = performance(nav)["annualized_return"]
    assert float(annualized(nav["nav"].to_numpy())) == pytest.approx(want, rel=1e-12)
    assert percentile_in(0.5, np.array([])) != percentile_in(0.5, np.array([]))  # NaN


def test_a_null_on_other_dates_is_refused():
    nav = pl.concat([_nav("benchmark", 1.0), _nav("cnn", 1.1)])
    with pytest.raises(UserInputError, match="dates"):
        null_summary(_null([1.0, 1.1]).filter(pl.col("date") > DATES[0]), nav)
