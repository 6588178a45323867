"""Warnings when the evidence is thin: the report's "Caveats" block, metrics.json, MLflow tags.

Input contract: each seed's report metrics (`tasks.report.build.build_report`, with `training`,
`lstm.skill`, `selection` and `commission` filled) keyed by seed label, and the run's context
facts (`RunFacts`). Each caveat is `{"code", "message"}`; the codes are stable (MLflow tags
`caveat.<code>`), the messages name the seeds and numbers that triggered them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnlstm.tasks.data.universe import UniverseCoverage

SURVIVORSHIP = (
    "Survivorship bias: the stock set holds only stocks still listed when it was collected; "
    "this flatters every strategy, the benchmark-relative numbers included."
)


@dataclass(frozen=True)
class Thresholds:
    """When a caveat fires."""

    one_class_share: float = 0.95
    cnn_min_val_auc: float = 0.52
    min_selected: int = 5
    commission_bps: float = 10.0


@dataclass(frozen=True)
class RunFacts:
    """What the run knows beyond its seeds' metrics."""

    seeds: tuple[int, ...] = (0,)
    rows_quarantined: int = 0
    rows_total: int = 0
    benchmark_gaps: int | None = None  # trading days the benchmark lacks (None: not measured)
    benchmark_derived: bool = False
    survivorship_biased: bool = False
    universe: UniverseCoverage | None = None  # the membership table's coverage (None: none)

    def universe_rule(self) -> str:
        """The universe rule in one line (the report's and metrics.json's `universe.rule`)."""
        if self.universe is None:
            return "every stock the source read, on each rebalance date (no membership table)"
        return self.universe.rule()


def _seeds_where(per_seed: dict[str, dict], test) -> list[str]:
    return [label for label, m in per_seed.items() if test(m)]


def _num(value) -> float:
    return math.nan if value is None else float(value)


def caveats(per_seed: dict[str, dict], facts: RunFacts, th: Thresholds | None = None) -> list:
    """The caveats that the seeds' metrics and the run's facts trigger, most serious first."""
    th = th or Thresholds()
    out: list[dict[str, str]] = []

    def add(code: str, message: str) -> None:
        out.append({"code": code, "message": message})

    def skill(m: dict) -> dict:
        return (m.get("lstm") or {}).get("skill") or {}

    one_class = _seeds_where(
        per_seed,
        lambda m: (
            max(_num(skill(m).get("share_up_signals")), 1 - _num(skill(m).get("share_up_signals")))
            >= th.one_class_share
        ),
    )
    if one_class:
        shares = ", ".join(
            f"{s}: {_num(skill(per_seed[s]).get('share_up_signals')):.0%} +1" for s in one_class
        )
        add(
            "lstm_one_class",
            f"LSTM signals are >= {th.one_class_share:.0%} one class ({shares}): CNN-LSTM is "
            "close to CNN-only (or to cash); the timing layer is not doing anything.",
        )
    no_skill = _seeds_where(
        per_seed,
        lambda m: not _num(skill(m).get("auc_low")) > 0.5,  # NaN (no AUC) counts too
    )
    if no_skill:
        aucs = ", ".join(
            f"{s}: AUC {_num(skill(per_seed[s]).get('auc')):.3f} "
            f"[{_num(skill(per_seed[s]).get('auc_low')):.3f}, "
            f"{_num(skill(per_seed[s]).get('auc_high')):.3f}]"
            for s in no_skill
        )
        add(
            "lstm_no_skill",
            "Timing shows no skill out of sample: the LSTM's AUC interval does not lie above "
            f"0.5 ({aucs}).",
        )
    weak_cnn = []
    for label, m in per_seed.items():
        nets = (m.get("training") or {}).get("cnn", [])
        weak = []
        for net in nets:
            epoch, val_auc = _num(net.get("best_epoch")), _num(net.get("val/auc"))
            if epoch == 0 or (not math.isnan(val_auc) and val_auc <= th.cnn_min_val_auc):
                weak.append((epoch, val_auc))
        if len(nets) == 1 and weak:
            weak_cnn.append(f"{label}: best epoch {weak[0][0]:.0f}, val AUC {weak[0][1]:.3f}")
        elif weak:  # walk-forward: one CNN per month
            aucs = [a for _, a in weak if not math.isnan(a)]
            weak_cnn.append(
                f"{label}: {len(weak)} of {len(nets)} monthly CNNs (best epoch 0 in "
                f"{sum(e == 0 for e, _ in weak)}, val AUC {min(aucs, default=math.nan):.3f}.."
                f"{max(aucs, default=math.nan):.3f})"
            )
    if weak_cnn:
        shown = "; ".join(weak_cnn[:6]) + (
            f"; +{len(weak_cnn) - 6} more" if len(weak_cnn) > 6 else ""
        )
        add(
            "cnn_not_learned",
            f"The CNN barely learned (best epoch 0 or validation AUC <= {th.cnn_min_val_auc}): "
            f"{shown}. Its selection may be close to random.",
        )
    thin = _seeds_where(
        per_seed,
        lambda m: (
            (m.get("selection") or {}).get("min_per_month", th.min_selected) < th.min_selected
        ),
    )
    if thin:
        detail = ", ".join(
            f"{s}: min {per_seed[s]['selection']['min_per_month']} stocks, "
            f"{per_seed[s]['selection']['months_below']} months below"
            for s in thin
        )
        add(
            "thin_selection",
            f"Fewer than {th.min_selected} stocks selected in some months ({detail}): results "
            "hang on single stocks.",
        )
    if facts.rows_quarantined > 0:
        share = facts.rows_quarantined / max(facts.rows_total + facts.rows_quarantined, 1)
        add(
            "quarantined_rows",
            f"{facts.rows_quarantined} rows ({share:.2%}) were quarantined at ingest and are not "
            "in the backtest.",
        )
    if facts.universe is not None and facts.universe.without_data:
        u = facts.universe
        named = ", ".join(u.without_data[:10]) + (
            f" and {len(u.without_data) - 10} more" if len(u.without_data) > 10 else ""
        )
        add(
            "members_without_data",
            f"{len(u.without_data)} member(s) of {u.name} have no data ({u.missing_share:.1%} of "
            f"member-days): {named}. The universe on those days is the members with data.",
        )
    if facts.benchmark_gaps:
        add(
            "benchmark_gaps",
            f"The benchmark lacks {facts.benchmark_gaps} trading days of the bars' calendar: its "
            "value is carried forward over them.",
        )
    if facts.benchmark_derived:
        add(
            "benchmark_derived",
            "No benchmark index was given: the benchmark is the equal-weighted universe "
            "(EW_UNIVERSE), not a market index.",
        )
    burden = {}
    for m in per_seed.values():
        for name, c in (m.get("commission") or {}).items():
            if c.get("exceeds"):
                burden[name] = c
    if burden:
        parts = ", ".join(
            f"{name} (median slot {c['median_slot']:,.0f}: minimum commission "
            f"{c['min_commission_share'] * 1e4:.0f} bps; avoided from a capital of "
            f"{c['capital_to_avoid']:,.0f})"
            for name, c in sorted(burden.items())
        )
        add(
            "min_commission",
            f"The minimum commission exceeds {th.commission_bps:.0f} bps of the typical slot for "
            f"{parts}: net returns are dominated by fixed costs.",
        )
    if facts.survivorship_biased:
        add("survivorship", SURVIVORSHIP)
    if len(facts.seeds) == 1:
        add(
            "single_seed",
            f"One training seed ({facts.seeds[0]}): the spread over seeds is unknown; use "
            "--seeds 3 or more before reading differences between strategies.",
        )
    return out
