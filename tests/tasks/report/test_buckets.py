"""Score buckets: deciles, spread, monotonicity, probability buckets."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from cnnlstm.tasks.report.buckets import probability_buckets, score_deciles


def _scored(skill: float, months: int = 24, n: int = 100, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(months):
        score = rng.normal(size=n)
        ret = skill * score + rng.normal(size=n) * 0.05
        month = date(2015 + m // 12, m % 12 + 1, 1)
        rows += [(month, f"S{i}", float(score[i]), float(ret[i])) for i in range(n)]
    return pl.DataFrame(rows, schema=["month", "symbol", "score", "target_return"], orient="row")


def test_a_skilled_ranker_has_rising_deciles_and_a_significant_spread():
    scored = _scored(0.02)
    top = scored.sort("score", descending=True).group_by("month").head(1)
    out = score_deciles(scored, top.select("month", "symbol"))
    means = [out["deciles"][str(b)]["mean"] for b in range(1, 11)]
    assert out["monotonicity_spearman"] == pytest.approx(1.0)
    assert means[-1] > means[0]
    assert out["top_minus_bottom"] == pytest.approx(means[-1] - means[0])
    assert out["top_minus_bottom_t"] > 5
    assert out["selected"]["mean"] > means[-1]  # the very top beats its decile
    assert out["months"] == 24


def test_a_ranker_without_skill_has_no_significant_spread():
    out = score_deciles(_scored(0.0, seed=4), None)
    assert abs(out["top_minus_bottom_t"]) < 3
    assert "selected" not in out


def test_each_decile_holds_a_tenth_of_the_month():
    scored = _scored(0.01, months=1, n=100)
    out = score_deciles(scored, None)
    assert all(v["months"] == 1 for v in out["deciles"].values())
    # decile 10's mean is the mean of the 10 highest scores' returns
    best = scored.sort("score", descending=True).head(10)["target_return"].mean()
    assert out["deciles"]["10"]["mean"] == pytest.approx(best)


def test_probability_buckets():
    rng = np.random.default_rng(1)
    prob = rng.uniform(size=1000)
    outcomes = pl.DataFrame({"prob_up": prob, "fwd_return": (prob - 0.5) * 0.02})
    out = probability_buckets(outcomes)
    assert list(out["buckets"]) == ["1", "2", "3", "4", "5"]
    assert sum(b["n"] for b in out["buckets"].values()) == 1000
    assert out["monotonicity_spearman"] == pytest.approx(1.0)
    assert probability_buckets(None) is None


def test_deciles_and_buckets_give_the_same_bits_in_any_row_order():
    # polars' group_by mean adds a group's rows in a changing order: the last bits of a decile's
    # mean (and so metrics.json) changed between identical runs
    scored = _scored(0.01, months=36, n=300)
    selection = scored.filter(pl.col("score") > 2.0).select("month", "symbol")
    rng = np.random.default_rng(2)
    prob = rng.uniform(size=20_000)
    outcomes = pl.DataFrame({"prob_up": prob, "fwd_return": rng.normal(size=20_000) * 0.02})
    deciles, buckets = set(), set()
    for k in range(12):
        rows = scored.sample(fraction=1.0, shuffle=True, seed=k)
        deciles.add(repr(score_deciles(rows, selection)))
        buckets.add(repr(probability_buckets(outcomes.sample(fraction=1.0, shuffle=True, seed=k))))
    assert len(deciles) == 1
    assert len(buckets) == 1
