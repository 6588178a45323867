"""The one-screen report: caveats, Table 2, the comparisons that decide; the notes in one table.

The counts are those a 5-seed run of the real A-share set printed as ~80 `Note:` lines (issue
25); the comparisons are checked against the per-seed numbers they summarise.
"""

from __future__ import annotations

import statistics

import pytest
from report_support import CFG, seed_inputs

from cnnlstm.tasks.report.build import build_report
from cnnlstm.tasks.report.caveats import RunFacts
from cnnlstm.tasks.report.measures import NullBand
from cnnlstm.tasks.report.notes import notes_table
from cnnlstm.tasks.report.seeds import combine

SEEDS = ("0", "1", "2", "3", "4")


def _counts(seed: int) -> dict[str, int]:
    """What one seed's backtest counted: rules per strategy, capacity, missing signals."""
    out = {"raw_prices.amount_per_volume": 1, "missing_signals": 40 + seed,
           "capacity.participation_pct": 10}  # fmt: skip
    for name in ("cnn_lstm", "cnn", "momentum", "equal_weight"):
        out[f"blocked.{name}"] = 600 + seed
        out[f"capacity.{name}.first"] = 1_000_000 + seed
        out[f"capacity.{name}.p05"] = 9_000_000 + seed
        for rule in ("below_one_lot", "limit_up", "limit_down", "suspended", "capacity"):
            out[f"rule.{name}.blocked.{rule}"] = 100 * seed + len(rule)
        out[f"rule.{name}.resized.cash"] = 7
    return out


@pytest.fixture(scope="module")
def five_seeds():
    built = {s: build_report(seed_inputs(int(s))[0], CFG) for s in SEEDS}
    ensemble = build_report(seed_inputs(7)[0], CFG)
    counts = {s: _counts(int(s)) for s in SEEDS}
    texts = {s: ["limits and lots on real prices derived as amount / volume"] for s in SEEDS}
    table = notes_table(counts, texts)
    report = combine(built, ensemble, RunFacts(seeds=tuple(map(int, SEEDS))), CFG,
                     notes_table=table)  # fmt: skip
    return report, counts


def test_a_five_seed_screen_fits_in_60_lines_and_holds_no_note_lines(five_seeds):
    report, _ = five_seeds
    lines = report.summary.splitlines()
    assert len(lines) <= 60, report.summary
    assert not [x for x in lines if x.startswith("Note:")]
    assert "### Table 2: mean ± std over 5 seeds" in report.summary
    assert "Comparisons that decide" in report.summary
    assert "Notes table in the report: 40 rows (in words 1, rule counts 24" in report.summary


def test_the_notes_table_holds_every_count_of_every_seed(five_seeds):
    report, counts = five_seeds
    rows = report.metrics.model_dump(mode="json")["notes_table"]
    from cnnlstm.tasks.report.notes import split_key

    for seed, by_key in counts.items():
        for key, value in by_key.items():
            topic, strategy, item = split_key(key)
            row = next(
                r for r in rows if (r["topic"], r["strategy"], r["item"]) == (topic, strategy, item)
            )
            assert row["values"][seed] == value
    # one row per (topic, strategy, item), the seeds side by side
    assert len(rows) == len({split_key(k) for k in counts["0"]}) + 1
    assert "### Notes: rule counts, capacity, missing signals" in report.markdown
    assert "| seed 0 | seed 1 | seed 2 | seed 3 | seed 4 |" in report.markdown
    assert "1,000,004" in report.markdown  # seed 4's capacity of a strategy, in its column


def test_the_deciding_comparisons_summarise_each_seeds_interval(five_seeds):
    report, _ = five_seeds
    metrics = report.metrics.model_dump(mode="json")
    rows = {r["key"]: r for r in metrics["decisions"]}
    per_seed = metrics["per_seed"]
    timing = [per_seed[s]["paired"]["cnn_lstm-cnn"] for s in SEEDS]
    assert rows["timing"]["mean"] == pytest.approx(statistics.fmean(t["mean"] for t in timing))
    assert rows["timing"]["std"] == pytest.approx(statistics.stdev(t["mean"] for t in timing))
    excluding = sum(not (t["ci_low"] <= 0 <= t["ci_high"]) for t in timing)
    assert rows["timing"]["excluding_zero"] == excluding
    bench = [per_seed[s]["strategies"]["cnn_lstm"]["excess_return"] for s in SEEDS]
    assert rows["benchmark"]["mean"] == pytest.approx(statistics.fmean(bench))
    ens = metrics["ensemble"]["strategies"]["cnn_lstm_ensemble"]
    assert rows["benchmark"]["ensemble"]["ci_low"] == pytest.approx(ens["ci_low"])
    line = next(x for x in report.summary.splitlines() if x.startswith("| CNN-LSTM − benchmark"))
    assert f"{statistics.fmean(bench):+.3f}" in line and f"{excluding}" in report.summary


def test_a_like_for_like_null_is_shown_when_the_seeds_report_one():
    built = {}
    for s in ("0", "1"):
        rep = build_report(seed_inputs(int(s))[0], CFG)
        rep.metrics.nulls = {
            "random": NullBand(strategy="cnn_lstm", draws=100, mean=0.02, p05=-0.05,
                               p95=0.07 + 0.1 * int(s), strategy_value=0.10, percentile=90.0)
        }  # fmt: skip
        built[s] = rep
    report = combine(built, None, RunFacts(seeds=(0, 1)), CFG)
    row = next(r for r in report.metrics.decisions if r.key == "null.random")
    assert row.mean == pytest.approx(0.08)
    assert row.seeds["0"].ci_low == pytest.approx(0.03)  # above the null's 95th percentile
    assert row.excluding_zero == 1  # seed 1: 0.10 lies inside its null's 5-95% band
    assert "| CNN-LSTM − random null (5-95% band) | +0.080" in report.summary
