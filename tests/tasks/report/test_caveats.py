"""Each caveat fires on a case built to trigger it and stays silent on one that should not."""

from __future__ import annotations

import functools

import pytest
from report_support import CFG, seed_inputs

from cnnlstm.tasks.report.build import ReportConfig, build_report
from cnnlstm.tasks.report.caveats import RULES, RunFacts, Thresholds, caveats
from cnnlstm.tasks.report.measures import Commission, LstmAuc, SeedMetrics, Selection
from cnnlstm.tasks.report.seeds import combine

SKILL = {"auc": 0.58, "auc_low": 0.54, "auc_high": 0.62, "base_rate": 0.5,
         "share_up_signals": 0.6}  # fmt: skip
NET = {"best_epoch": 4.0, "val/auc": 0.61}
LIGHT = Commission(median_slot=1e5, min_commission_share=5e-5, share_at_minimum=0.0,
                   exceeds=False, capital_to_avoid=None)  # fmt: skip


@functools.cache
def _real() -> SeedMetrics:
    """A real seed's metrics, the base every case below changes."""
    return build_report(seed_inputs(0)[0], CFG).metrics


def _seed(*, skill=None, nets=None, selection=None, commission=None, cnn=None) -> SeedMetrics:
    """A seed whose LSTM, CNN training, selection and costs raise no caveat, but as changed.

    `cnn`: out-of-sample rank IC evidence (None: no labels known, validation decides).
    """
    base = _real()
    lstm = base.lstm.model_copy(update={"skill": LstmAuc(**{**SKILL, **(skill or {})})})
    chosen = {"min_per_month": 12, "months_below": 0, "months": 36, **(selection or {})}
    return base.model_copy(
        update={
            "lstm": lstm,
            "cnn": None if cnn is None else base.cnn.model_copy(update=cnn),
            "training": {"cnn": [NET] if nets is None else nets},
            "selection": Selection(**chosen),
            "commission": commission or {"cnn": LIGHT},
        }
    )


CLEAN = RunFacts(seeds=(0, 1, 2))


def _codes(per_seed, facts=CLEAN) -> set[str]:
    return {c.code for c in caveats(per_seed, facts)}


def _with(**changes) -> SeedMetrics:
    kw: dict = {}
    for path, value in changes.items():
        section, key = path.split("__")
        if section == "skill":
            kw["skill"] = {key: value}
        elif section == "cnn":
            kw["nets"] = [{**NET, key: value}]
        else:
            kw[section] = {key: value}
    return _seed(**kw)


def test_a_sound_run_has_no_caveat():
    assert _codes({"0": _seed(), "1": _seed(), "2": _seed()}) == set()


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
    assert _codes({"0": _seed(), "1": _with(**change)}) == {code}
    message = next(c.message for c in caveats({"0": _seed(), "1": _with(**change)}, CLEAN))
    assert "1" in message  # names the seed


def test_just_inside_the_thresholds_is_silent():
    edge = _seed(
        skill={"auc": 0.53, "auc_low": 0.501, "auc_high": 0.56, "share_up_signals": 0.94},
        nets=[{"best_epoch": 1.0, "val/auc": 0.521}],
        selection={"min_per_month": 5, "months_below": 0},
    )
    assert _codes({"0": edge}) == set()


def test_run_fact_caveats():
    seeds = {"0": _seed()}
    assert _codes(seeds, RunFacts(seeds=(0,))) == {"single_seed"}
    facts = RunFacts(seeds=(0, 1), rows_quarantined=30, rows_total=970)
    found = caveats(seeds, facts)
    assert [c.code for c in found] == ["quarantined_rows"]
    assert "30 rows (3.00%)" in found[0].message
    assert _codes(seeds, RunFacts(seeds=(0, 1), benchmark_gaps=4)) == {"benchmark_gaps"}
    assert _codes(seeds, RunFacts(seeds=(0, 1), benchmark_gaps=0)) == set()
    assert _codes(seeds, RunFacts(seeds=(0, 1), survivorship_biased=True)) == {"survivorship"}
    assert _codes(seeds, RunFacts(seeds=(0, 1), benchmark_derived=True)) == {"benchmark_derived"}


def test_caveats_runs_the_rules_in_their_order_each_with_its_severity():
    facts = RunFacts(seeds=(0,), rows_quarantined=1, rows_total=9, benchmark_gaps=3,
                     benchmark_derived=True, survivorship_biased=True)  # fmt: skip
    found = caveats({"0": _with(skill__share_up_signals=0.99)}, facts)
    codes = [c.code for c in found]
    assert codes == ["lstm_one_class", "quarantined_rows", "benchmark_gaps",
                     "benchmark_derived", "survivorship", "single_seed"]  # fmt: skip
    assert [rule.__name__ for rule in RULES if rule.__name__ in codes] == codes
    assert [c.severity for c in found] == ["high", "medium", "medium", "low", "low", "low"]
    assert all(rule(_seeds_clean(), CLEAN, Thresholds()) is None for rule in RULES)


def _seeds_clean() -> dict[str, SeedMetrics]:
    return {"0": _seed(), "1": _seed()}


def test_min_commission_caveat_names_the_capital():
    burden = Commission(exceeds=True, median_slot=739.0, min_commission_share=5 / 739,
                        share_at_minimum=1.0, capital_to_avoid=6.77e6)  # fmt: skip
    found = caveats({"0": _seed(commission={"equal_weight": burden})}, CLEAN)
    assert [c.code for c in found] == ["min_commission"]
    assert "6,770,000" in found[0].message and "68 bps" in found[0].message


def test_one_class_signals_fire_through_the_whole_report():
    """The caveat from real report inputs: an LSTM that says +1 every time."""
    built = {"0": build_report(seed_inputs(0, one_class=True)[0], CFG)}
    report = combine(built, None, RunFacts(seeds=(0,)), CFG)
    codes = [c.code for c in report.metrics.caveats]
    assert "lstm_one_class" in codes and "single_seed" in codes
    assert "lstm_one_class" in report.markdown.split("### Table 2")[0]
    sound = combine(
        {"0": build_report(seed_inputs(0)[0], CFG)}, None, RunFacts(seeds=(0, 1)), ReportConfig()
    )
    assert "lstm_one_class" not in [c.code for c in sound.metrics.caveats]


def test_walk_forward_cnns_are_counted_per_seed():
    months = _seed(nets=[{"best_epoch": 0.0, "val/auc": 0.6}] * 3
                   + [{"best_epoch": 2.0, "val/auc": 0.58}])  # fmt: skip
    found = caveats({"0": _seed(), "1": months}, CLEAN)
    assert [c.code for c in found] == ["cnn_not_learned"]
    assert "1: no out-of-sample rank IC; 3 of 4 monthly CNNs weak" in found[0].message
    assert "best epoch 0 in 3" in found[0].message


def test_members_without_data_are_named_with_their_share_or_silent():
    from cnnlstm.tasks.data.universe import UniverseCoverage

    full = UniverseCoverage(name="CSI 300", months=45, min_members=43, max_members=45)
    assert _codes({"0": _seed()}, RunFacts(seeds=(0, 1), universe=full)) == set()
    gaps = full.model_copy(
        update={"without_data": ["SH600001", "SZ000002"], "missing_member_days": 40,
                "member_days": 4000}
    )  # fmt: skip
    warned = caveats({"0": _seed()}, RunFacts(seeds=(0, 1), universe=gaps))
    assert [c.code for c in warned] == ["members_without_data"]
    assert "SH600001, SZ000002" in warned[0].message
    assert "1.0% of member-days" in warned[0].message
    assert RunFacts(universe=gaps).universe_rule() == (
        "CSI 300 members on each rebalance date, 43 to 45 a month, 2 member(s) without data "
        "(1.0% of member-days)"
    )
    assert "no membership table" in RunFacts().universe_rule()


RANKER = {"mean_rank_ic": 0.10, "rank_ic_nw_t": 7.0, "months": 45}


def test_a_ranker_with_out_of_sample_skill_is_not_called_unlearned():
    """Rank IC 0.10 with t 7: learned, whatever its validation AUC (0.53) and best epoch (0)."""
    skilled = _seed(cnn=RANKER, nets=[{"best_epoch": 0.0, "val/auc": 0.53}])
    assert _codes({"0": skilled, "1": skilled}) == set()
    monthly = _seed(cnn=RANKER, nets=[{"best_epoch": 0.0, "val/auc": 0.51}] * 12)
    assert _codes({"0": monthly}) == set()  # walk-forward: 12 monthly CNNs, same evidence


@pytest.mark.parametrize(
    "evidence",
    [
        {"mean_rank_ic": 0.01, "rank_ic_nw_t": 0.6, "months": 45},  # noise
        {"mean_rank_ic": -0.06, "rank_ic_nw_t": -3.0, "months": 45},  # ranks backwards
        {"mean_rank_ic": 0.03, "rank_ic_nw_t": 1.9, "months": 45},  # just short of t 2
    ],
)
def test_a_cnn_without_out_of_sample_skill_is_called_unlearned_despite_its_validation(evidence):
    """A good-looking validation (AUC 0.61, best epoch 4) does not hide a flat rank IC."""
    found = caveats({"0": _seed(), "1": _seed(cnn=RANKER), "2": _seed(cnn=evidence)}, CLEAN)
    assert [c.code for c in found] == ["cnn_not_learned"]
    message = found[0].message
    assert message.startswith("The CNN shows no ranking skill (2: out-of-sample rank IC")
    assert f"t {evidence['rank_ic_nw_t']:.1f} over 45 months" in message
    assert "validation AUC 0.610, best epoch 4" in message and "1:" not in message


def _sim_cnn_evidence(tmp_path, *, shuffle: bool) -> SeedMetrics:
    """A seed's metrics for a fast-profile CNN trained on the default simulated market."""
    import numpy as np
    import polars as pl

    from cnnlstm.flows.params import ResearchParams
    from cnnlstm.tasks.data.sources.sim import simulate_market
    from cnnlstm.tasks.features import CnnFeatureConfig, build_cnn_features
    from cnnlstm.tasks.report.evidence import cnn_ic_stats
    from cnnlstm.tasks.report.metrics import score_diagnostics
    from cnnlstm.tasks.training.networks import CnnTrainConfig, score_cnn, train_cnn

    params = ResearchParams.default_sim()
    protocol = params.protocol
    feats = build_cnn_features(simulate_market(params.data.sim).bars, CnnFeatureConfig())
    train = feats.filter(pl.col("month").is_between(protocol.train.start, protocol.train.end))
    if shuffle:  # labels permuted within each month: nothing left to learn
        key = np.random.default_rng(7).random(train.height)
        train = (
            train.with_columns(_key=pl.Series(key))
            .with_columns(label=pl.col("label").sort_by("_key").over("month"))
            .drop("_key")
        )
    trained = train_cnn(train, CnnTrainConfig(profile="fast", seed=0), tmp_path)
    test = feats.filter(pl.col("month").is_between(protocol.test.start, protocol.test.end))
    scored = score_cnn(trained.checkpoint, test).with_columns(test["target_return"])
    monthly = score_diagnostics(scored)  # as the report computes a seed's CNN evidence
    cnn = {"months": monthly.height, "mean_rank_ic": monthly["rank_ic"].mean()}
    cnn |= cnn_ic_stats(monthly, scored)
    return _seed(cnn=cnn, nets=[dict(trained.metrics)])


@pytest.mark.slow  # two fast-profile CNN trainings on the default 300-stock market: ~1-3 min
def test_cnn_not_learned_is_silent_on_the_sim_markets_cnn_and_fires_on_shuffled_labels(tmp_path):
    learned = _sim_cnn_evidence(tmp_path / "learned", shuffle=False)
    assert "cnn_not_learned" not in _codes({"0": learned}), learned.cnn
    shuffled = _sim_cnn_evidence(tmp_path / "shuffled", shuffle=True)
    assert "cnn_not_learned" in _codes({"0": shuffled}), shuffled.cnn
