"""Each caveat fires on a case built to trigger it and stays silent on one that should not."""

from __future__ import annotations

import pytest
from report_support import CFG, seed_inputs

from cnnlstm.tasks.report.build import ReportConfig, build_report
from cnnlstm.tasks.report.caveats import RunFacts, caveats
from cnnlstm.tasks.report.seeds import combine

GOOD = {
    "lstm": {"skill": {"auc": 0.58, "auc_low": 0.54, "auc_high": 0.62, "share_up_signals": 0.6}},
    "training": {"cnn": [{"best_epoch": 4.0, "val/auc": 0.61}]},
    "selection": {"min_per_month": 12, "months_below": 0, "months": 36},
    "commission": {"cnn": {"exceeds": False}},
}
CLEAN = RunFacts(seeds=(0, 1, 2))


def _codes(per_seed, facts=CLEAN) -> set[str]:
    return {c["code"] for c in caveats(per_seed, facts)}


def _with(**changes) -> dict:
    out = {k: dict(v) for k, v in GOOD.items()}
    for path, value in changes.items():
        section, key = path.split("__")
        if section == "skill":
            out["lstm"] = {"skill": {**GOOD["lstm"]["skill"], key: value}}
        elif section == "cnn":
            out["training"] = {"cnn": [{**GOOD["training"]["cnn"][0], key: value}]}
        else:
            out[section] = {**out[section], key: value}
    return out


def test_a_sound_run_has_no_caveat():
    assert _codes({"0": GOOD, "1": GOOD, "2": GOOD}) == set()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"skill__share_up_signals": 0.97}, "lstm_one_class"),
        ({"skill__share_up_signals": 0.03}, "lstm_one_class"),
        ({"skill__auc_low": 0.47}, "lstm_no_skill"),
        ({"cnn__best_epoch": 0.0}, "cnn_not_learned"),
        ({"cnn__val/auc": 0.515}, "cnn_not_learned"),
        ({"selection__min_per_month": 1}, "thin_selection"),
    ],
)
def test_each_model_caveat_fires_on_its_case_only(change, code):
    assert _codes({"0": GOOD, "1": _with(**change)}) == {code}
    message = next(c["message"] for c in caveats({"0": GOOD, "1": _with(**change)}, CLEAN))
    assert "1" in message  # names the seed


def test_just_inside_the_thresholds_is_silent():
    edge = {
        "lstm": {"skill": {"auc": 0.53, "auc_low": 0.501, "auc_high": 0.56,
                           "share_up_signals": 0.94}},
        "training": {"cnn": [{"best_epoch": 1.0, "val/auc": 0.521}]},
        "selection": {"min_per_month": 5, "months_below": 0},
    }  # fmt: skip
    assert _codes({"0": edge}) == set()


def test_run_fact_caveats():
    seeds = {"0": GOOD}
    assert _codes(seeds, RunFacts(seeds=(0,))) == {"single_seed"}
    facts = RunFacts(seeds=(0, 1), rows_quarantined=30, rows_total=970)
    found = caveats(seeds, facts)
    assert [c["code"] for c in found] == ["quarantined_rows"]
    assert "30 rows (3.00%)" in found[0]["message"]
    assert _codes(seeds, RunFacts(seeds=(0, 1), benchmark_gaps=4)) == {"benchmark_gaps"}
    assert _codes(seeds, RunFacts(seeds=(0, 1), benchmark_gaps=0)) == set()
    assert _codes(seeds, RunFacts(seeds=(0, 1), survivorship_biased=True)) == {"survivorship"}
    assert _codes(seeds, RunFacts(seeds=(0, 1), benchmark_derived=True)) == {"benchmark_derived"}


def test_min_commission_caveat_names_the_capital():
    heavy = _with()
    heavy["commission"] = {
        "equal_weight": {"exceeds": True, "median_slot": 739.0, "min_commission_share": 5 / 739,
                         "capital_to_avoid": 6.77e6}
    }  # fmt: skip
    found = caveats({"0": heavy}, CLEAN)
    assert [c["code"] for c in found] == ["min_commission"]
    assert "6,770,000" in found[0]["message"] and "68 bps" in found[0]["message"]


def test_one_class_signals_fire_through_the_whole_report():
    """The caveat from real report inputs: an LSTM that says +1 every time."""
    built = {"0": build_report(seed_inputs(0, one_class=True)[0], CFG)}
    report = combine(built, None, RunFacts(seeds=(0,)), CFG)
    codes = [c["code"] for c in report.metrics["caveats"]]
    assert "lstm_one_class" in codes and "single_seed" in codes
    assert "lstm_one_class" in report.markdown.split("### Table 2")[0]
    sound = combine(
        {"0": build_report(seed_inputs(0)[0], CFG)}, None, RunFacts(seeds=(0, 1)), ReportConfig()
    )
    assert "lstm_one_class" not in [c["code"] for c in sound.metrics["caveats"]]


def test_walk_forward_cnns_are_counted_per_seed():
    months = {**GOOD, "training": {"cnn": [{"best_epoch": 0.0, "val/auc": 0.6}] * 3
                                   + [{"best_epoch": 2.0, "val/auc": 0.58}]}}  # fmt: skip
    found = caveats({"0": GOOD, "1": months}, CLEAN)
    assert [c["code"] for c in found] == ["cnn_not_learned"]
    assert "1: 3 of 4 monthly CNNs (best epoch 0 in 3" in found[0]["message"]


def test_members_without_data_are_named_with_their_share_or_silent():
    from cnnlstm.tasks.data.universe import UniverseCoverage

    full = UniverseCoverage(name="CSI 300", months=45, min_members=43, max_members=45)
    assert _codes({"0": GOOD}, RunFacts(seeds=(0, 1), universe=full)) == set()
    gaps = full.model_copy(
        update={"without_data": ["SH600001", "SZ000002"], "missing_member_days": 40,
                "member_days": 4000}
    )  # fmt: skip
    warned = caveats({"0": GOOD}, RunFacts(seeds=(0, 1), universe=gaps))
    assert [c["code"] for c in warned] == ["members_without_data"]
    assert (
        "SH600001, SZ000002" in warned[0]["message"]
        and "1.0% of member-days" in warned[0]["message"]
    )
    assert RunFacts(universe=gaps).universe_rule() == (
        "CSI 300 members on each rebalance date, 43 to 45 a month, 2 member(s) without data "
        "(1.0% of member-days)"
    )
    assert "no membership table" in RunFacts().universe_rule()
