"""Warnings when the evidence is thin: the report's "Caveats" block, metrics.json, MLflow tags.

Input contract: each seed's `SeedMetrics` (`tasks.report.build.build_report`) keyed by seed
label, and the run's context facts (`RunFacts`). Each caveat is one rule: a small function of
the seeds, the facts and the thresholds that returns a `Caveat` or None. `RULES` lists them most
serious first; `caveats` runs them. The codes are stable (MLflow tags `caveat.<code>`), the
messages name the seeds and numbers that triggered them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cnnlstm.tasks.data.universe import UniverseCoverage
from cnnlstm.tasks.report.measures import Caveat, LstmAuc, SeedMetrics

SURVIVORSHIP = (
    "Survivorship bias: the stock set holds only stocks still listed when it was collected; "
    "this flatters every strategy, the benchmark-relative numbers included."
)


@dataclass(frozen=True)
class Thresholds:
    """When a caveat fires (`ReportConfig.caveat_*`)."""

    one_class_share: float = 0.95
    cnn_min_val_auc: float = 0.52  # only where no out-of-sample rank IC is known
    cnn_min_rank_ic_t: float = 2.0
    min_selected: int = 5
    commission_bps: float = 10.0

    @classmethod
    def of(cls, cfg) -> Thresholds:
        """The thresholds a `ReportConfig` sets."""
        return cls(
            one_class_share=cfg.caveat_one_class,
            cnn_min_val_auc=cfg.caveat_cnn_val_auc,
            cnn_min_rank_ic_t=cfg.caveat_cnn_rank_ic_t,
            min_selected=cfg.caveat_min_selected,
            commission_bps=cfg.caveat_commission_bps,
        )


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


Seeds = Mapping[str, SeedMetrics]
Rule = Callable[[Seeds, RunFacts, Thresholds], Caveat | None]


def _num(value) -> float:
    return math.nan if value is None else float(value)


def _skill(m: SeedMetrics) -> LstmAuc:
    nan = math.nan
    if m.lstm is None or m.lstm.skill is None:
        return LstmAuc(auc=nan, auc_low=nan, auc_high=nan, base_rate=nan)
    return m.lstm.skill


def _cnn_nets(m: SeedMetrics) -> list[dict]:
    return m.training.get("cnn", [])


def _training_detail(m: SeedMetrics) -> str:
    """Validation AUC and best epoch of a seed's CNN(s): details beside the evidence."""
    nets = _cnn_nets(m)
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


def _cnn_weakness(m: SeedMetrics, th: Thresholds) -> str | None:
    """Why a seed's CNN counts as not learned, or None when it learned (or nothing is known).

    Decided out of sample where the test months' returns are known: the monthly rank IC's mean
    must be positive with a Newey-West t of at least `th.cnn_min_rank_ic_t`. Validation AUC
    and best epoch are normal near 0.5 and 0 for a cross-sectional ranker with skill: they
    decide only where no out-of-sample rank IC exists (e.g. a live month without labels).
    """
    detail = _training_detail(m)
    if m.cnn is not None and m.cnn.months >= 2:
        ic, t, months = _num(m.cnn.mean_rank_ic), _num(m.cnn.rank_ic_nw_t), m.cnn.months
        if not math.isnan(ic) and not math.isnan(t):
            if ic > 0 and t >= th.cnn_min_rank_ic_t:
                return None
            return (
                f"out-of-sample rank IC {ic:+.3f}, Newey-West t {t:.1f} over {months} months "
                f"(needs > 0 with t >= {th.cnn_min_rank_ic_t:g})"
                + (f"; {detail}" if detail else "")
            )
    nets = _cnn_nets(m)
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


def lstm_one_class(seeds: Seeds, facts: RunFacts, th: Thresholds) -> Caveat | None:
    """LSTM signals nearly all +1 (or all -1): CNN-LSTM is CNN-only or cash."""
    shares = {s: _num(_skill(m).share_up_signals) for s, m in seeds.items()}
    hit = {s: v for s, v in shares.items() if max(v, 1 - v) >= th.one_class_share}
    if not hit:
        return None
    named = ", ".join(f"{s}: {v:.0%} +1" for s, v in hit.items())
    return Caveat(
        code="lstm_one_class",
        severity="high",
        message=f"LSTM signals are >= {th.one_class_share:.0%} one class ({named}): CNN-LSTM is "
        "close to CNN-only (or to cash); the timing layer is not doing anything.",
    )


def lstm_no_skill(seeds: Seeds, facts: RunFacts, th: Thresholds) -> Caveat | None:
    """The LSTM's AUC interval does not lie above 0.5 (no AUC counts too)."""
    hit = {s: _skill(m) for s, m in seeds.items() if not _num(_skill(m).auc_low) > 0.5}
    if not hit:
        return None
    aucs = ", ".join(
        f"{s}: AUC {_num(k.auc):.3f} [{_num(k.auc_low):.3f}, {_num(k.auc_high):.3f}]"
        for s, k in hit.items()
    )
    return Caveat(
        code="lstm_no_skill",
        severity="high",
        message="Timing shows no skill out of sample: the LSTM's AUC interval does not lie "
        f"above 0.5 ({aucs}).",
    )


def cnn_not_learned(seeds: Seeds, facts: RunFacts, th: Thresholds) -> Caveat | None:
    """The CNN shows no ranking skill (see `_cnn_weakness`)."""
    weak = [f"{s}: {text}" for s, m in seeds.items() if (text := _cnn_weakness(m, th))]
    if not weak:
        return None
    shown = "; ".join(weak[:6]) + (f"; +{len(weak) - 6} more" if len(weak) > 6 else "")
    return Caveat(
        code="cnn_not_learned",
        severity="high",
        message=f"The CNN shows no ranking skill ({shown}). Its selection may be close to random.",
    )


def thin_selection(seeds: Seeds, facts: RunFacts, th: Thresholds) -> Caveat | None:
    """Months with fewer selected stocks than `th.min_selected`."""
    hit = {
        s: m.selection
        for s, m in seeds.items()
        if m.selection is not None and m.selection.min_per_month < th.min_selected
    }
    if not hit:
        return None
    detail = ", ".join(
        f"{s}: min {x.min_per_month} stocks, {x.months_below} months below" for s, x in hit.items()
    )
    return Caveat(
        code="thin_selection",
        severity="medium",
        message=f"Fewer than {th.min_selected} stocks selected in some months ({detail}): "
        "results hang on single stocks.",
    )


def quarantined_rows(seeds: Seeds, facts: RunFacts, th: Thresholds) -> Caveat | None:
    """Rows the ingest quarantined (not in the backtest)."""
    if facts.rows_quarantined <= 0:
        return None
    share = facts.rows_quarantined / max(facts.rows_total + facts.rows_quarantined, 1)
    return Caveat(
        code="quarantined_rows",
        severity="medium",
        message=f"{facts.rows_quarantined} rows ({share:.2%}) were quarantined at ingest and are "
        "not in the backtest.",
    )


def members_without_data(seeds: Seeds, facts: RunFacts, th: Thresholds) -> Caveat | None:
    """Members of the universe that have no bars."""
    u = facts.universe
    if u is None or not u.without_data:
        return None
    more = len(u.without_data) - 10
    named = ", ".join(u.without_data[:10]) + (f" and {more} more" if more > 0 else "")
    return Caveat(
        code="members_without_data",
        severity="medium",
        message=f"{len(u.without_data)} member(s) of {u.name} have no data ({u.missing_share:.1%} "
        f"of member-days): {named}. The universe on those days is the members with data.",
    )


def benchmark_gaps(seeds: Seeds, facts: RunFacts, th: Thresholds) -> Caveat | None:
    """Trading days the benchmark lacks (carried forward)."""
    if not facts.benchmark_gaps:
        return None
    return Caveat(
        code="benchmark_gaps",
        severity="medium",
        message=f"The benchmark lacks {facts.benchmark_gaps} trading days of the bars' calendar: "
        "its value is carried forward over them.",
    )


def benchmark_derived(seeds: Seeds, facts: RunFacts, th: Thresholds) -> Caveat | None:
    """No benchmark index: the equal-weighted universe stands in."""
    if not facts.benchmark_derived:
        return None
    return Caveat(
        code="benchmark_derived",
        severity="low",
        message="No benchmark index was given: the benchmark is the equal-weighted universe "
        "(EW_UNIVERSE), not a market index.",
    )


def min_commission(seeds: Seeds, facts: RunFacts, th: Thresholds) -> Caveat | None:
    """The minimum commission is a large share of a strategy's typical slot."""
    burden = {n: c for m in seeds.values() for n, c in m.commission.items() if c.exceeds}
    if not burden:
        return None
    parts = ", ".join(
        f"{name} (median slot {c.median_slot:,.0f}: minimum commission "
        f"{c.min_commission_share * 1e4:.0f} bps; avoided from a capital of "
        f"{c.capital_to_avoid:,.0f})"
        for name, c in sorted(burden.items())
    )
    return Caveat(
        code="min_commission",
        severity="medium",
        message=f"The minimum commission exceeds {th.commission_bps:.0f} bps of the typical slot "
        f"for {parts}: net returns are dominated by fixed costs.",
    )


def survivorship(seeds: Seeds, facts: RunFacts, th: Thresholds) -> Caveat | None:
    """The stock set holds only survivors."""
    if not facts.survivorship_biased:
        return None
    return Caveat(code="survivorship", severity="low", message=SURVIVORSHIP)


def single_seed(seeds: Seeds, facts: RunFacts, th: Thresholds) -> Caveat | None:
    """One training seed: the spread over seeds is unknown."""
    if len(facts.seeds) != 1:
        return None
    return Caveat(
        code="single_seed",
        severity="low",
        message=f"One training seed ({facts.seeds[0]}): the spread over seeds is unknown; use "
        "--seeds 3 or more before reading differences between strategies.",
    )


#: Every caveat rule, most serious first (the order the report lists them in).
RULES: tuple[Rule, ...] = (
    lstm_one_class,
    lstm_no_skill,
    cnn_not_learned,
    thin_selection,
    quarantined_rows,
    members_without_data,
    benchmark_gaps,
    benchmark_derived,
    min_commission,
    survivorship,
    single_seed,
)


def caveats(seeds: Seeds, facts: RunFacts, th: Thresholds | None = None) -> list[Caveat]:
    """The caveats that the seeds' metrics and the run's facts trigger, most serious first."""
    th = th or Thresholds()
    return [c for rule in RULES if (c := rule(seeds, facts, th)) is not None]
