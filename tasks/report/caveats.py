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
    cnn_min_val_auc: float = 0.52  # only where no out-of-sample rank IC is known
    cnn_min_rank_ic_t: float = 2.0
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


def _training_detail(m: dict) -> str:
    """Validation AUC and best epoch of a seed's CNN(s): details beside the evidence."""
    nets = (m.get("training") or {}).get("cnn", [])
    if not nets:
        return ""
    aucs = [_num(n.get("val/auc")) for n in nets]
    epochs = [_num(n.get("best_epoch")) for n in nets]
    if len(nets) == 1:
        return f"validation AUC {aucs[0]:.3f}, best epoch {epochs[0]:.0f}"
    finite = [a for a in aucs if not math.isnan(a)]
    return (
        f"{len(nets)} CNNs: validation AUC {min(finite, default=math.nan):.3f}.."
        f"{max(finite, default=math.nan):.3f}, best epoch 0 in {sum(e == 0 for e in epochs)}"
    )


def _cnn_weakness(m: dict, th: Thresholds) -> str | None:
    """Why a seed's CNN counts as not learned, or None when it learned (or nothing is known).

    Decided out of sample where the test months' returns are known: the monthly rank IC's mean
    must be positive with a Newey-West t of at least `th.cnn_min_rank_ic_t`. Validation AUC
    and best epoch are normal near 0.5 and 0 for a cross-sectional ranker with skill: they
    decide only where no out-of-sample rank IC exists (e.g. a live month without labels).
    """
    cnn = m.get("cnn") or {}
    detail = _training_detail(m)
    ic, t = _num(cnn.get("mean_rank_ic")), _num(cnn.get("rank_ic_nw_t"))
    months = int(cnn.get("months") or 0)
    if not math.isnan(ic) and not math.isnan(t) and months >= 2:
        if ic > 0 and t >= th.cnn_min_rank_ic_t:
            return None
        return (
            f"out-of-sample rank IC {ic:+.3f}, Newey-West t {t:.1f} over {months} months "
            f"(needs > 0 with t >= {th.cnn_min_rank_ic_t:g})" + (f"; {detail}" if detail else "")
        )
    nets = (m.get("training") or {}).get("cnn", [])
    weak = [
        n
        for n in nets
        if _num(n.get("best_epoch")) == 0 or _num(n.get("val/auc")) <= th.cnn_min_val_auc
    ]
    if not weak:
        return None
    which = f"{len(weak)} of {len(nets)} monthly CNNs weak, " if len(nets) > 1 else ""
    return (
        f"no out-of-sample rank IC; {which}{detail} (best epoch 0 or validation AUC <= "
        f"{th.cnn_min_val_auc})"
    )


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
    weak_cnn = [
        f"{label}: {text}" for label, m in per_seed.items() if (text := _cnn_weakness(m, th))
    ]
    if weak_cnn:
        shown = "; ".join(weak_cnn[:6]) + (
            f"; +{len(weak_cnn) - 6} more" if len(weak_cnn) > 6 else ""
        )
        add(
            "cnn_not_learned",
            f"The CNN shows no ranking skill ({shown}). Its selection may be close to random.",
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
