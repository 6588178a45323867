from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cnnlstm.core.errors import DataValidationError, UserInputError
from cnnlstm.tasks.strategy.select import (
    SelectionConfig,
    ensemble_scores,
    momentum_scores,
    select_top,
)

JAN, FEB = date(2020, 1, 1), date(2020, 2, 1)


def _scores(n: int, month: date = JAN) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": [f"S{i:03d}" for i in range(n)], "month": [month] * n, "score": range(n)}
    ).with_columns(pl.col("score").cast(pl.Float64))


def test_top_one_percent_with_at_least_one():
    scores = pl.concat([_scores(250), _scores(40, FEB)])
    sel = select_top(scores, SelectionConfig())
    jan = sel.filter(pl.col("month") == JAN)
    assert jan["symbol"].to_list() == ["S249", "S248"]  # round(2.5) = 2
    assert jan["rank"].to_list() == [1, 2]
    assert sel.filter(pl.col("month") == FEB)["symbol"].to_list() == ["S039"]  # at least one


def test_fixed_count_and_ties_broken_by_symbol():
    scores = _scores(5).with_columns(score=pl.lit(1.0))
    sel = select_top(scores, SelectionConfig(top_count=3))
    assert sel["symbol"].to_list() == ["S000", "S001", "S002"]
    assert SelectionConfig(top_count=10).count(4) == 4


def test_bad_scores_and_config_are_rejected_readably():
    bad = _scores(3).with_columns(score=pl.Series([1.0, float("nan"), 2.0]))
    with pytest.raises(DataValidationError, match="finite"):
        select_top(bad, SelectionConfig())
    with pytest.raises(ValueError, match="min_count"):
        SelectionConfig(top_count=1, min_count=2)


def test_momentum_compounds_t12_to_t2_and_ignores_t13():
    cols = {f"mret_{k}": [0.1, 0.0] for k in range(13, 1, -1)}
    cols["mret_13"] = [5.0, -0.9]
    feats = pl.DataFrame({"symbol": ["A", "B"], "month": [JAN, JAN], **cols})
    out = momentum_scores(feats).sort("symbol")
    assert out["score"].to_list() == pytest.approx([1.1**11 - 1, 0.0])
    with pytest.raises(UserInputError, match="lack a monthly return"):
        momentum_scores(feats.with_columns(mret_5=pl.lit(None, dtype=pl.Float64)))


def test_momentum_t12_to_t1_adds_last_months_return_from_its_own_row():
    feb = date(JAN.year, JAN.month + 1, 1) if JAN.month < 12 else date(JAN.year + 1, 1, 1)
    cols = {f"mret_{k}": [0.1, 0.0, 0.1] for k in range(13, 1, -1)}
    feats = pl.DataFrame(
        {
            "symbol": ["A", "B", "A"],
            "month": [JAN, JAN, feb],
            "target_return": [0.5, -0.2, 0.0],  # A's and B's January returns
            **cols,
        }
    )
    skip = momentum_scores(feats).filter(pl.col("month") == feb)
    assert skip["score"].to_list() == pytest.approx([1.1**11 - 1])
    full = momentum_scores(feats, "t-12..t-1").sort("month", "symbol")
    # February's A: t-12..t-2 compounded, times January's return; B has no February row;
    # January's rows have no December row to take t-1 from, so they are not ranked
    assert full.select("symbol", "month").rows() == [("A", feb)]
    assert full["score"].to_list() == pytest.approx([1.1**11 * 1.5 - 1])


def test_ensemble_scores_are_the_same_bits_whatever_the_order_of_seeds_or_rows():
    # polars' group_by mean adds a group's values in a changing order: a last bit could flip
    # a tie at the top 1% between two identical runs
    import numpy as np

    rng = np.random.default_rng(4)
    months = [date(2016, m, 1) for m in range(1, 13)]
    base = pl.DataFrame(
        {
            "symbol": [f"S{i:04d}" for i in range(2000)] * len(months),
            "month": [m for m in months for _ in range(2000)],
        }
    )
    parts = [base.with_columns(score=pl.Series(rng.normal(size=base.height))) for _ in range(5)]
    reference = ensemble_scores(parts)
    assert reference.select("symbol", "month").equals(parts[0].select("symbol", "month"))
    expected = np.mean(np.stack([p["score"].to_numpy() for p in parts]), axis=0)
    assert np.allclose(reference["score"].to_numpy(), expected, rtol=0, atol=1e-15)
    for k in range(10):
        order = rng.permutation(len(parts))
        shuffled = [parts[i].sample(fraction=1.0, shuffle=True, seed=k) for i in order]
        got = ensemble_scores(shuffled).sort("month", "symbol")
        ref = reference.sort("month", "symbol")
        assert got["score"].to_numpy().tobytes() == ref["score"].to_numpy().tobytes()
    assert ensemble_scores(parts[:1]) is parts[0]
