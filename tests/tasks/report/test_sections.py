"""The baseline and diagnostic sections reach metrics.json, the markdown and MLflow's keys."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
from report_support import CFG, DAYS, seed_inputs

from cnnlstm.flows.stages.track import report_metrics
from cnnlstm.tasks.report.build import build_report
from cnnlstm.tasks.report.caveats import RunFacts
from cnnlstm.tasks.report.seeds import combine


def _null(n_draws: int, n_days: int) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    navs = np.cumprod(1 + rng.normal(0, 0.01, (n_draws, n_days)), axis=1)
    return pl.DataFrame(
        {
            "null": "random_selection",
            "draw": np.repeat(np.arange(n_draws), n_days),
            "date": DAYS[:n_days] * n_draws,
            "nav": navs.ravel(),
        }
    )


def test_nulls_deciles_qlib_and_an_untradable_ew_universe_are_reported():
    inputs, _ = seed_inputs(0)
    n_days = inputs.nav["date"].n_unique()
    monthly = inputs.nav.filter(pl.col("strategy") == "benchmark").with_columns(
        strategy=pl.lit("ew_index_monthly")
    )
    inputs = dataclasses.replace(
        inputs,
        null_nav=_null(50, n_days),
        monthly_index_nav=monthly,
        equal_weight_needs=2_345_678.0,
    )
    seed = build_report(inputs, CFG)
    assert seed.metrics.nulls["random_selection"].draws == 50
    assert seed.metrics.deciles.months == 12
    assert seed.metrics.lstm_buckets.buckets["1"].n > 0
    assert set(seed.metrics.qlib.strategies) == {"cnn", "cnn_lstm", "equal_weight"}
    assert seed.metrics.ew_index_monthly is not None
    report = combine({"0": seed}, None, RunFacts(seeds=(0,)), CFG)
    text = report.markdown
    assert "not tradable at 1,000,000 (needs >= 2,345,678)" in text
    ew_rows = [line for line in text.splitlines() if line.startswith("| Equal-weighted universe |")]
    assert len(ew_rows) == 2  # cost sensitivity and yearly: no misleading number either
    assert all("not tradable at" in line for line in ew_rows)
    assert "EW universe index, monthly rebalanced (frictionless)" in text
    assert "### Null baselines" in text and "| random_selection | 0 | cnn | 50 |" in text
    assert "### CNN score deciles" in text and "### LSTM probability buckets" in text
    assert "Qlib risk_analysis, mode sum" in text and "Rank ICIR" in text
    flat = report_metrics(report.metrics.model_dump(mode="json", exclude_unset=True))
    assert "nulls.random_selection.percentile" in flat
    assert "deciles.top_minus_bottom_t" in flat
    assert "qlib.strategies.cnn.information_ratio" in flat


def test_a_tradable_ew_universe_keeps_its_numbers():
    inputs, _ = seed_inputs(1)
    inputs = dataclasses.replace(inputs, equal_weight_needs=10_000.0)
    report = combine({"1": build_report(inputs, CFG)}, None, RunFacts(seeds=(1,)), CFG)
    assert "not tradable at" not in report.markdown
    assert report.metrics.baselines.equal_weight.tradable is True
