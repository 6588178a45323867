"""The paper's report: one backtest's numbers; Table 2 (markdown, CSV), the figures, metrics.json.

Input contract (`ReportInputs`): the `nav` table of every strategy and of the benchmark
(`strategy == "benchmark"`), the `trades` ledger, the initial capital, the benchmark's label
(with `benchmark_derived` when it is the equal-weighted universe index `EW_UNIVERSE` because no
index was given), and optionally the CNN's scored months (score + realized `target_return`) with
its selection, and the LSTM signals' realized outcomes (`tasks.report.metrics.signal_outcomes`).
For each strategy: annualized return, max drawdown, volatility, Sharpe, Sortino, Calmar,
turnover, average position ratio, total costs, and its annualized excess return over the
benchmark with a seeded block-bootstrap interval.

`build_report` computes one backtest's numbers (`SeedReport`, typed as `SeedMetrics`); the
report over seeds (`tasks.report.seeds.combine`) renders them; `write_report` writes its files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.strategy import NavSchema
from cnnlstm.schemas.validation import validate_table
from cnnlstm.tasks.report import evidence
from cnnlstm.tasks.report.baselines import baseline_labels, null_summary
from cnnlstm.tasks.report.buckets import probability_buckets, score_deciles
from cnnlstm.tasks.report.caveats import SURVIVORSHIP
from cnnlstm.tasks.report.figures import (
    decile_chart,
    drawdown_chart,
    net_value_chart,
    position_ratio_chart,
)
from cnnlstm.tasks.report.measures import RunMetrics, SeedMetrics, dump_metrics
from cnnlstm.tasks.report.metrics import (
    excess_return_ci,
    performance,
    round_trip_hit_rate,
    score_diagnostics,
    timing_accuracy,
)
from cnnlstm.tasks.report.qlib_metrics import qlib_rows
from cnnlstm.tasks.strategy import registry
from cnnlstm.tasks.strategy.indexes import MONTHLY_EW
from cnnlstm.tasks.strategy.nulls import NullConfig


class ReportConfig(BaseModel):
    """How the report computes its intervals and what it says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_block_days: int = Field(20, ge=1, description="days per bootstrap block")
    bootstrap_samples: int = Field(2000, ge=100, description="bootstrap resamples")
    ci_level: float = Field(0.95, gt=0.5, lt=1, description="interval coverage")
    seed: int = Field(0, description="bootstrap seed")
    survivorship_caveat: bool = Field(False, description="add the survivorship-bias caveat line")
    title: str = Field("CNN-LSTM backtest", description="heading of the markdown table")
    cost_multipliers: tuple[float, ...] = Field(
        (0.0, 2.0),
        description="cost sensitivity: the same orders re-run at these multiples of the "
        "preset's costs (0 = gross); 1x is the run itself",
    )
    auc_samples: int = Field(500, ge=50, description="bootstrap resamples of the LSTM's AUC")
    caveat_one_class: float = Field(0.95, gt=0.5, le=1, description="LSTM one-class share")
    caveat_cnn_val_auc: float = Field(
        0.52,
        description="CNN validation AUC at or below: caveat, only where no out-of-sample rank IC "
        "is known",
    )
    caveat_cnn_rank_ic_t: float = Field(
        2.0,
        gt=0,
        description="the CNN learned when its out-of-sample monthly rank IC is positive with a "
        "Newey-West t of at least this; below: caveat cnn_not_learned",
    )
    caveat_min_selected: int = Field(5, ge=1, description="fewer stocks in a month: caveat")
    caveat_commission_bps: float = Field(
        10.0, gt=0, description="minimum commission above this share of the typical slot: caveat"
    )
    nulls: NullConfig = Field(
        default_factory=NullConfig,
        description="the null baselines' random draws (random selection, random timing)",
    )


@dataclass(frozen=True)
class ReportInputs:
    """What the report is computed from."""

    nav: pl.DataFrame
    trades: pl.DataFrame
    capital: float
    benchmark_label: str
    benchmark_derived: bool = False
    cnn_scored: pl.DataFrame | None = None  # month, symbol, score, target_return
    cnn_selection: pl.DataFrame | None = None
    signal_outcomes: pl.DataFrame | None = None  # symbol, date, signal, fwd_return
    blocked: dict[str, int] = field(default_factory=dict)  # BacktestResult.blocked
    notes: list[str] = field(default_factory=list)
    cost_navs: dict[str, pl.DataFrame] = field(default_factory=dict)  # multiplier -> nav
    index_nav: pl.DataFrame | None = None  # frictionless EW universe index, daily (nav rows)
    monthly_index_nav: pl.DataFrame | None = None  # the same rebalanced monthly (nav rows)
    equal_weight_needs: float | None = None  # capital the traded EW universe needs (lots)
    n_trials: int = 1  # trials behind the deflated Sharpe ratio
    training: dict[str, list[dict]] = field(default_factory=dict)  # cnn/lstm best metrics
    min_commission: float = 0.0
    commission_rate: float = 0.0
    null_nav: pl.DataFrame | None = None  # the null baselines' draws (null, draw, date, nav)
    null_facts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedReport:
    """One backtest's numbers (one seed, or the seed ensemble): its Table 2 rows and metrics."""

    table: pl.DataFrame  # one row per strategy, one column per metric
    metrics: SeedMetrics


@dataclass(frozen=True)
class Report:
    """The report over the seeds (`tasks.report.seeds.combine`): every number and its text."""

    table: pl.DataFrame  # one row per strategy: each metric's mean and std over the seeds
    metrics: RunMetrics
    markdown: str  # the full report (`table2.md`)
    summary: str  # the one-screen form (`tasks.report.summary`)


def build_report(inputs: ReportInputs, cfg: ReportConfig | None = None) -> SeedReport:
    """Compute every number of the report.

    Raises:
        UserInputError: the nav table has no benchmark rows or strategies on different dates.
    """
    cfg = cfg or ReportConfig()
    nav = validate_table(inputs.nav, NavSchema, table="nav").valid.sort("strategy", "date")
    if "benchmark" not in nav["strategy"].to_list():
        raise UserInputError("the nav table has no 'benchmark' rows to compare against")
    days = nav.group_by("strategy").agg(pl.col("date").sort())
    if days["date"].n_unique() != 1:
        raise UserInputError("every strategy's nav must cover the same dates")
    names = sorted(nav["strategy"].unique(), key=registry.order_key)
    bench = nav.filter(pl.col("strategy") == "benchmark")["nav"].to_numpy()
    rows = []
    for name in names:
        part = nav.filter(pl.col("strategy") == name)
        trades = inputs.trades.filter(pl.col("strategy") == name)
        numbers = performance(part, trades if name != "benchmark" else None, capital=inputs.capital)
        if name == "benchmark":
            numbers["turnover"] = 0.0
            excess = {"excess_return": 0.0, "ci_low": 0.0, "ci_high": 0.0}
        else:
            excess = excess_return_ci(
                part["nav"].to_numpy(),
                bench,
                block_days=cfg.bootstrap_block_days,
                samples=cfg.bootstrap_samples,
                level=cfg.ci_level,
                seed=cfg.seed,
            )
        numbers.update({k: excess[k] for k in ("excess_return", "ci_low", "ci_high")})
        numbers["excess_significant"] = not (excess["ci_low"] <= 0.0 <= excess["ci_high"])
        numbers["blocked_attempts"] = inputs.blocked.get(name, 0)
        rows.append({"strategy": name, **numbers})
    table = pl.DataFrame(rows)
    metrics = {
        "period": {"start": str(nav["date"].min()), "end": str(nav["date"].max())},
        "benchmark": {"label": inputs.benchmark_label, "derived": inputs.benchmark_derived},
        "strategies": {
            r["strategy"]: {k: v for k, v in r.items() if k != "strategy"} for r in rows
        },
        "bootstrap": cfg.model_dump(include={"bootstrap_block_days", "bootstrap_samples", "seed"})
        | {"level": cfg.ci_level},
        "cnn": _cnn_metrics(inputs),
        "lstm": _lstm_metrics(inputs),
        "notes": _notes(inputs, cfg),
    }
    metrics.update(_evidence(inputs, nav, cfg, metrics))
    metrics["qlib"] = qlib_rows(nav, metrics["cnn"])
    return SeedReport(table=table, metrics=SeedMetrics.model_validate(metrics))


def _evidence(inputs: ReportInputs, nav: pl.DataFrame, cfg: ReportConfig, metrics: dict) -> dict:
    """Statistics, gross/net, cost sensitivity, yearly table, paired intervals, model skill."""
    boot = {
        "block_days": cfg.bootstrap_block_days,
        "samples": cfg.bootstrap_samples,
        "level": cfg.ci_level,
        "seed": cfg.seed,
    }
    sharpe = evidence.sharpe_block(nav, inputs.n_trials)
    costs = evidence.cost_sensitivity(nav, inputs.cost_navs)
    for name, numbers in metrics["strategies"].items():
        numbers.update({k: sharpe[name][k] for k in ("sharpe_se", "psr", "dsr", "sr0")})
        numbers["net_return"] = numbers["annualized_return"]
        numbers["gross_return"] = costs.get(name, {}).get("0x", numbers["annualized_return"])
    out = {
        "n_trials": inputs.n_trials,
        "cost_sensitivity": costs,
        "paired": evidence.paired_differences(nav, **boot),
        "yearly": evidence.yearly_returns(nav),
        "training": inputs.training,
        "commission": evidence.commission_burden(
            inputs.trades,
            capital=inputs.capital,
            min_commission=inputs.min_commission,
            commission_rate=inputs.commission_rate,
            threshold_bps=cfg.caveat_commission_bps,
        ),
    }
    for name, index_nav in (("ew_index", inputs.index_nav), (MONTHLY_EW, inputs.monthly_index_nav)):
        if index_nav is not None and index_nav.height:
            index_nav = index_nav.with_columns(strategy=pl.lit(name))
            index = performance(index_nav)
            index.update(evidence.sharpe_block(index_nav, inputs.n_trials)[name])
            index["net_return"] = index["gross_return"] = index["annualized_return"]
            out[name] = index
            out["yearly"][name] = evidence.yearly_returns(index_nav)[name]
    out["baselines"] = baseline_labels(inputs.capital, inputs.equal_weight_needs)
    out["deciles"] = score_deciles(inputs.cnn_scored, inputs.cnn_selection)
    out["lstm_buckets"] = probability_buckets(inputs.signal_outcomes)
    out["nulls"] = null_summary(inputs.null_nav, nav)
    for numbers in out["nulls"].values():
        numbers.update(inputs.null_facts if numbers["strategy"] == "cnn_lstm" else {})
    if inputs.cnn_selection is not None:
        counts = inputs.cnn_selection.group_by("month").len()["len"]
        out["selection"] = {
            "min_per_month": int(counts.min()) if counts.len() else 0,
            "months_below": int((counts < cfg.caveat_min_selected).sum()),
            "months": counts.len(),
        }
    if metrics["cnn"] is not None:
        monthly = score_diagnostics(inputs.cnn_scored, inputs.cnn_selection)
        metrics["cnn"].update(evidence.cnn_ic_stats(monthly, inputs.cnn_scored))
    if metrics["lstm"] is not None:
        metrics["lstm"]["skill"] = evidence.lstm_skill(
            inputs.signal_outcomes, samples=cfg.auc_samples, level=cfg.ci_level, seed=cfg.seed
        )
    return out


def write_report(report: Report, nav: pl.DataFrame, out_dir: Path | str) -> dict[str, Path]:
    """Write Table 2 (markdown, CSV), `metrics.json` and the PNG figures into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "table_md": out / "table2.md",
        "table_csv": out / "table2.csv",
        "metrics": out / "metrics.json",
        "net_value": out / "fig4_net_value.png",
        "drawdown": out / "drawdown.png",
    }
    files["table_md"].write_text(report.markdown)
    report.table.write_csv(files["table_csv"])
    files["metrics"].write_text(dump_metrics(report.metrics))
    net_value_chart(nav, files["net_value"], benchmark_label=report.metrics.benchmark.label)
    drawdown_chart(nav, files["drawdown"])
    if report.metrics.deciles:
        files["deciles"] = out / "cnn_deciles.png"
        decile_chart(report.metrics.deciles, files["deciles"])
    if "cnn_lstm" in nav["strategy"].to_list():
        files["position_ratio"] = out / "fig3_position_ratio.png"
        position_ratio_chart(nav, files["position_ratio"])
    return files


def _cnn_metrics(inputs: ReportInputs) -> dict | None:
    """Monthly IC / rank IC / spread and their means (None without CNN scores)."""
    if inputs.cnn_scored is None:
        return None
    monthly = score_diagnostics(inputs.cnn_scored, inputs.cnn_selection)
    ic = monthly["ic"].drop_nulls()
    return {
        "months": monthly.height,
        "mean_ic": ic.mean(),
        "ic_ir": ic.mean() / ic.std() if ic.len() > 1 and ic.std() else None,
        "mean_rank_ic": monthly["rank_ic"].drop_nulls().mean(),
        "mean_top_minus_median": monthly["top_minus_median"].drop_nulls().mean(),
        "monthly": [{**r, "month": str(r["month"])} for r in monthly.iter_rows(named=True)],
    }


def _lstm_metrics(inputs: ReportInputs) -> dict | None:
    """Out-of-sample timing accuracy and precision, and CNN-LSTM's round-trip hit rate."""
    if inputs.signal_outcomes is None:
        return None
    out = timing_accuracy(inputs.signal_outcomes)
    out.update(round_trip_hit_rate(inputs.trades.filter(pl.col("strategy") == "cnn_lstm")))
    return out


def _notes(inputs: ReportInputs, cfg: ReportConfig) -> list[str]:
    notes = list(inputs.notes)
    if inputs.benchmark_derived:
        notes.append(
            f"No benchmark index was given: the benchmark is an equal-weighted index of the "
            f"universe ({inputs.benchmark_label}), not a market index."
        )
    if cfg.survivorship_caveat:
        notes.append(SURVIVORSHIP)
    return notes
