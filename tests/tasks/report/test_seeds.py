"""The report over seeds, gross/net, cost sensitivity, paired and yearly numbers, model skill.

Every number is checked against a computation written here from the nav arrays (numpy loops,
scikit-learn), not through the report's code path.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from report_support import CFG, DAYS, seed_inputs
from sklearn.metrics import roc_auc_score

from cnnlstm.tasks.report.build import build_report
from cnnlstm.tasks.report.caveats import RunFacts
from cnnlstm.tasks.report.evidence import cnn_ic_stats, commission_burden, lstm_skill
from cnnlstm.tasks.report.metrics import score_diagnostics
from cnnlstm.tasks.report.seeds import combine, seeds_table


def _ann(returns: np.ndarray) -> float:
    return float(np.prod(1 + returns) ** (252 / len(returns)) - 1)


def test_table2_is_mean_std_min_max_over_seeds_of_independently_computed_numbers():
    seeds = [0, 1, 2]
    built, raw = {}, {}
    for s in seeds:
        inputs, raw[s] = seed_inputs(s)
        built[str(s)] = build_report(inputs, CFG)
    report = combine(built, None, RunFacts(seeds=tuple(seeds)), CFG)
    t2 = report.metrics.table2
    net = [_ann(raw[s]["cnn"]) for s in seeds]
    assert t2["cnn"].net_return.mean == pytest.approx(np.mean(net))
    assert t2["cnn"].net_return.std == pytest.approx(np.std(net, ddof=1))
    assert t2["cnn"].net_return.min == pytest.approx(min(net))
    assert t2["cnn"].net_return.max == pytest.approx(max(net))
    gross = [_ann(raw[s]["gross"]["cnn"]) for s in seeds]
    assert t2["cnn"].gross_return.mean == pytest.approx(np.mean(gross))
    sharpe = [raw[s]["cnn_lstm"].mean() / raw[s]["cnn_lstm"].std(ddof=1) * math.sqrt(252)
              for s in seeds]  # fmt: skip
    assert t2["cnn_lstm"].sharpe.mean == pytest.approx(np.mean(sharpe))
    # cost sensitivity: 0x is the gross run, 1x the run itself
    cs = report.metrics.cost_sensitivity["cnn"]
    assert cs["0x"] == pytest.approx(np.mean(gross)) and cs["1x"] == pytest.approx(np.mean(net))
    # timing's paired difference, per seed, from the daily returns
    seed1 = report.metrics.per_seed["1"].paired["cnn_lstm-cnn"]
    assert seed1.mean == pytest.approx((raw[1]["cnn_lstm"] - raw[1]["cnn"]).mean() * 252)
    assert seed1.ci_low < seed1.mean < seed1.ci_high
    # the yearly table: compounded within each calendar year
    years = np.array([d.year for d in DAYS])
    want = np.prod(1 + raw[0]["cnn"][years == 2020]) - 1
    assert report.metrics.per_seed["0"].yearly["cnn"]["2020"] == pytest.approx(want)
    # DSR with the trials given, and the markdown shows mean ± std with the range
    assert report.metrics.n_trials == 7
    assert t2["cnn"].dsr.mean < t2["cnn"].psr.mean
    assert "### Caveats" in report.markdown.split("### Table 2")[0]
    assert f"{np.mean(net):.3f} ± {np.std(net, ddof=1):.3f} ({min(net):.3f}..{max(net):.3f})" in (
        report.markdown
    )
    table = seeds_table(report.metrics)
    assert table.filter((pl.col("seed") == "2") & (pl.col("strategy") == "cnn"))[
        "net_return"
    ].item() == pytest.approx(net[2])


def test_the_seed_ensemble_is_reported_beside_the_seed_mean():
    built = {str(s): build_report(seed_inputs(s)[0], CFG) for s in (0, 1)}
    ens_inputs, raw = seed_inputs(5)
    report = combine(built, build_report(ens_inputs, CFG), RunFacts(seeds=(0, 1)), CFG)
    ens = report.metrics.table2["cnn_ensemble"].net_return
    assert ens.mean == pytest.approx(_ann(raw["cnn"])) and ens.n == 1
    assert "CNN seed ensemble" in report.markdown


def test_lstm_skill_auc_base_rate_and_accuracy_over_base():
    inputs, _ = seed_inputs(0)
    out = inputs.signal_outcomes
    skill = lstm_skill(out, samples=100, level=0.95, seed=0)
    up = out["fwd_return"].to_numpy() > 0
    said = out["signal"].to_numpy() == 1
    assert skill["auc"] == pytest.approx(roc_auc_score(up, out["prob_up"].to_numpy()))
    assert skill["base_rate"] == pytest.approx(up.mean())
    majority = max(up.mean(), 1 - up.mean())
    assert skill["accuracy_over_base"] == pytest.approx((up == said).mean() - majority)
    assert skill["share_up_signals"] == pytest.approx(said.mean())
    assert skill["auc_low"] > 0.5  # planted: prob rises with the realized return


def test_cnn_ic_statistics_and_top_decile_hit_rate_by_hand():
    inputs, _ = seed_inputs(0)
    scored = inputs.cnn_scored
    monthly = score_diagnostics(scored, inputs.cnn_selection)
    out = cnn_ic_stats(monthly, scored)
    hits = total = 0
    for _, part in scored.group_by("month"):
        r = part["target_return"].to_numpy()
        s = part["score"].to_numpy()
        top = np.argsort(s)[-len(s) // 10 :]  # 40 stocks: the 4 best scores
        hits += int((r[top] > np.median(r)).sum())
        total += len(top)
    assert out["top_decile_hit_rate"] == pytest.approx(hits / total)
    ic = monthly["rank_ic"].to_numpy()
    assert out["rank_ic_ir"] == pytest.approx(ic.mean() / ic.std(ddof=1))
    assert out["ic_nw_t"] > 2  # planted: scores predict returns every month


def test_commission_burden_names_the_capital_that_avoids_it():
    trades = pl.DataFrame(
        {"strategy": ["equal_weight"] * 3 + ["cnn"], "side": ["buy"] * 4,
         "price": [10.0, 10.0, 10.0, 100.0], "shares": [70.0, 75.0, 80.0, 1000.0]}
    )  # fmt: skip
    out = commission_burden(
        trades, capital=1e6, min_commission=5.0, commission_rate=0.00025, threshold_bps=10
    )
    ew = out["equal_weight"]
    assert ew["median_slot"] == 750.0 and ew["exceeds"]
    assert ew["capital_to_avoid"] == pytest.approx(1e6 * (5 / 750) / 0.001)
    assert not out["cnn"]["exceeds"] and out["cnn"]["capital_to_avoid"] is None
