"""The full report in markdown (`table2.md`): caveats, Table 2 over seeds, then the evidence.

Input contract: the report over seeds' `RunMetrics` (`tasks.report.seeds.combine`) and the
`ReportConfig`. Sections in reading order: caveats; Table 2 (mean ± std (min..max) over seeds);
per seed; cost sensitivity; paired daily differences; yearly returns; the models out of sample;
the null baselines, deciles and Qlib-convention rows (`tasks.report.sections`); the comparisons
that decide (`tasks.report.summary`); the notes table (`tasks.report.notes`). Every table is
written by `tasks.report.tables.markdown_table`.
"""

from __future__ import annotations

import math

from cnnlstm.tasks.report import sections
from cnnlstm.tasks.report.measures import (
    CnnSkill,
    LstmSkill,
    PairedDiff,
    RunMetrics,
    SeedStat,
    StrategyRow,
)
from cnnlstm.tasks.report.notes import notes_markdown
from cnnlstm.tasks.report.summary import decisions_markdown
from cnnlstm.tasks.report.tables import aligned, markdown_table
from cnnlstm.tasks.strategy import registry
from cnnlstm.tasks.training.trained import describe_lstm_training

#: Table 2's rows: (key of `Table2Stats`, label, format).
ROWS = (
    ("net_return", "Annualized return, net of costs", "{:.3f}"),
    ("gross_return", "Annualized return, gross", "{:.3f}"),
    ("max_drawdown", "Maximum drawdown", "{:.3f}"),
    ("volatility", "Annualized volatility", "{:.3f}"),
    ("sharpe", "Sharpe ratio (net)", "{:.2f}"),
    ("sharpe_se", "  its standard error", "{:.2f}"),
    ("psr", "  probabilistic Sharpe P(SR > 0)", "{:.2f}"),
    ("dsr", "  deflated Sharpe ratio", "{:.2f}"),
    ("sortino", "Sortino ratio", "{:.2f}"),
    ("calmar", "Calmar ratio", "{:.2f}"),
    ("turnover", "Turnover (per year)", "{:.1f}"),
    ("avg_position_ratio", "Average position ratio", "{:.2f}"),
    ("total_costs", "Total costs (of capital)", "{:.4f}"),
    ("excess_return", "Excess return vs benchmark (ann.)", "{:+.3f}"),
)
ENSEMBLE_TEXT = (
    "Seed ensemble: CNN scores and LSTM probabilities averaged over the seeds, one backtest. "
    "EW universe indexes: the equal-weighted universe rebalanced daily (every traded "
    "stock) and monthly (each month's eligible stocks from the rebalance close, the "
    "strategies' frequency), no costs (indexes, not tradable strategies); EW universe "
    "(traded): the same monthly through the kernel with lots and costs."
)


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _f(value, fmt: str = "{:.3f}") -> str:
    return fmt.format(value) if _finite(value) else "n/a"


def _ordered(names) -> list[str]:
    return sorted(names, key=registry.order_key)


def _cell(stat: SeedStat | None, fmt: str, n_seeds: int) -> str:
    if stat is None or not _finite(stat.mean):
        return "n/a"
    text = fmt.format(stat.mean)
    if stat.n > 1 and n_seeds > 1 and stat.max > stat.min:
        spread = fmt.format(stat.std).lstrip("+") if _finite(stat.std) else "n/a"
        text += f" ± {spread} ({fmt.format(stat.min)}..{fmt.format(stat.max)})"
    return text


def _untradable(run: RunMetrics) -> str | None:
    """Why the traded EW universe is not shown, when it does not fit the capital."""
    return run.baselines.equal_weight.text if run.baselines else None


def _hide(name: str, cells: list[str], untradable: str | None) -> list[str]:
    """The traded EW universe's cells replaced by why it is not shown, when it does not fit."""
    if name != "equal_weight" or not untradable or not cells:
        return cells
    return [untradable] + ["-"] * (len(cells) - 1)


def caveats_markdown(run: RunMetrics) -> list[str]:
    """The caveats block, most serious first."""
    items = [f"- **{c.code}**: {c.message}" for c in run.caveats] or ["- none"]
    return ["### Caveats", *items, ""]


def table2_markdown(run: RunMetrics) -> list[str]:
    """Table 2 with metrics as rows and strategies as columns (as in the paper)."""
    seeds, n = run.seeds, len(run.seeds)
    names = _ordered(run.table2)
    over = f"mean ± std (min..max) over {n} seeds ({', '.join(map(str, seeds))})"
    untradable = _untradable(run)
    columns = {
        x: [_cell(getattr(run.table2[x], key), fmt, n) for key, _, fmt in ROWS] for x in names
    }
    columns = {x: _hide(x, cells, untradable) for x, cells in columns.items()}
    rows = [
        [label if key != "dsr" else f"{label} (N = {run.n_trials} trials)",
         *(columns[x][i] for x in names)]
        for i, (key, label, _) in enumerate(ROWS)
    ]  # fmt: skip
    head = ["", *(registry.label(x) for x in names)]
    return [
        f"### Table 2: {over if n > 1 else f'seed {seeds[0]}'}", "",
        *markdown_table(head, rows, aligned(1, len(names))), "", ENSEMBLE_TEXT,
    ]  # fmt: skip


def _seed_row(label: str, name: str, s: StrategyRow) -> list[str]:
    return [
        label, registry.label(name), _f(s.net_return), _f(s.gross_return),
        f"{_f(s.sharpe, '{:.2f}')} ± {_f(s.sharpe_se, '{:.2f}')}", _f(s.psr, "{:.2f}"),
        _f(s.dsr, "{:.2f}"), _f(s.max_drawdown),
        f"{_f(s.excess_return, '{:+.3f}')} [{_f(s.ci_low, '{:+.3f}')}, "
        f"{_f(s.ci_high, '{:+.3f}')}]{' *' if s.excess_significant else ''}",
    ]  # fmt: skip


def per_seed_markdown(run: RunMetrics) -> list[str]:
    """The seed-dependent strategies' headline numbers, one row per seed."""
    head = ["seed", "strategy", "net", "gross", "Sharpe ± SE", "PSR", "DSR", "max DD",
            "excess vs benchmark [interval]"]  # fmt: skip
    rows = [
        _seed_row(label, name, m.strategies[name])
        for label, m in run.per_seed.items()
        for name in registry.seed_dependent()
        if name in m.strategies
    ]
    return ["", "### Per seed", "", *markdown_table(head, rows, aligned(2, 7))]


def costs_markdown(run: RunMetrics) -> list[str]:
    """Annualized return at each cost multiple (the same orders), mean over seeds."""
    costs = run.cost_sensitivity
    mults = sorted({k for v in costs.values() for k in v}, key=lambda k: float(k[:-1]))
    untradable = _untradable(run)
    rows = [
        [registry.label(name), *_hide(name, [_f(costs[name].get(m)) for m in mults], untradable)]
        for name in _ordered(costs)
    ]
    head = ["strategy", *(f"{m} costs" for m in mults)]
    return [
        "", "### Cost sensitivity (annualized return, same orders; mean over seeds)", "",
        *markdown_table(head, rows, aligned(1, len(mults))),
    ]  # fmt: skip


def _paired_runs(run: RunMetrics) -> list[tuple[str, dict[str, PairedDiff]]]:
    runs = [(label, m.paired) for label, m in run.per_seed.items()]
    return runs + ([("ensemble", run.ensemble.paired)] if run.ensemble.paired else [])


def paired_markdown(run: RunMetrics, level: float) -> list[str]:
    """Paired daily return differences per seed; a seed-independent pair shown once."""
    rows, shown = [], set()
    for label, paired in _paired_runs(run):
        for pair, ci in paired.items():
            key = (pair, ci.mean, ci.ci_low, ci.ci_high)
            if key in shown:  # a seed-independent pair (momentum-equal_weight): once
                continue
            shown.add(key)
            rows.append((pair, label, ci))
    cells = [
        [pair, label, _f(ci.mean, "{:+.3f}"),
         f"[{_f(ci.ci_low, '{:+.3f}')}, {_f(ci.ci_high, '{:+.3f}')}]",
         "yes" if ci.excludes_zero else "no"]
        for pair, label, ci in rows
    ]  # fmt: skip
    significant = sum(ci.excludes_zero for _, _, ci in rows)
    return [
        "", "### Paired daily return differences (annualized mean, block bootstrap)", "",
        *markdown_table(["pair", "seed", "mean", "interval", "excludes 0"], cells, "llrrl"), "",
        f"{significant} of {len(rows)} intervals exclude 0; with no true difference about "
        f"{(1 - level) * len(rows):.1f} would by chance ({1 - level:.0%} each; the pairs share "
        "data, so they are not independent). cnn_lstm-cnn is timing's contribution.",
    ]  # fmt: skip


def yearly_markdown(run: RunMetrics) -> list[str]:
    """Each strategy's return per calendar year, mean over seeds."""
    yearly = run.yearly
    years = sorted({y for v in yearly.values() for y in v})
    untradable = _untradable(run)
    rows = [
        [registry.label(name), *_hide(name, [_f(yearly[name].get(y)) for y in years], untradable)]
        for name in _ordered(yearly)
    ]
    return [
        "", "### Yearly returns (mean over seeds)", "",
        *markdown_table(["strategy", *years], rows, aligned(1, len(years))),
    ]  # fmt: skip


def _model_row(label: str, cnn: CnnSkill | None, lstm: LstmSkill | None, nets: list) -> list[str]:
    sk = lstm.skill if lstm else None
    trained = ", ".join(
        f"{_f(t.get('best_epoch'), '{:.0f}')} / {_f(t.get('val/auc'))}" for t in nets[:3]
    ) + (" ..." if len(nets) > 3 else "")

    def c(attr: str, fmt: str = "{:.3f}") -> str:
        return _f(getattr(cnn, attr) if cnn else None, fmt)

    def s(attr: str, fmt: str = "{:.3f}") -> str:
        return _f(getattr(sk, attr) if sk else None, fmt)

    return [
        label, f"{c('mean_ic')} ({c('ic_nw_t', '{:.2f}')})",
        f"{c('mean_rank_ic')} ({c('rank_ic_nw_t', '{:.2f}')})", c("ic_ir", "{:.2f}"),
        c("top_decile_hit_rate"), trained or "-",
        f"{s('auc')} [{s('auc_low')}, {s('auc_high')}]", s("base_rate"),
        s("accuracy_over_base", "{:+.3f}"), s("share_up_signals"),
    ]  # fmt: skip


def models_markdown(run: RunMetrics) -> list[str]:
    """The networks' out-of-sample skill per seed (and the ensemble's), then the LSTM's fit."""
    head = ["seed", "CNN IC (NW t)", "rank IC (NW t)", "ICIR", "top-decile hit",
            "CNN best epoch / val AUC", "LSTM AUC [interval]", "base rate up", "accuracy - base",
            "share +1"]  # fmt: skip
    rows = [
        _model_row(label, m.cnn, m.lstm, m.training.get("cnn", []))
        for label, m in run.per_seed.items()
    ]
    ens = run.ensemble
    if ens.lstm or ens.cnn:  # the ensemble has no training of its own
        rows.append(_model_row("ensemble", ens.cnn, ens.lstm, []))
    lines = [
        "",
        "### Models out of sample, per seed",
        "",
        *markdown_table(head, rows, aligned(1, 9)),
    ]
    fits = [n for m in run.per_seed.values() for n in m.training.get("lstm", [])]
    return [*lines, "", *([describe_lstm_training(fits[0]), ""] if fits else [])]


def closing_markdown(run: RunMetrics, cfg) -> list[str]:
    """The intervals' conventions, the notes, the comparisons and the notes table."""
    level = cfg.ci_level
    return [
        f"Benchmark: {run.benchmark.label}. Intervals: {level:.0%} circular block "
        f"bootstrap ({cfg.bootstrap_block_days}-day blocks), * = excludes 0; LSTM AUC: "
        f"{cfg.auc_samples} row resamples. Newey-West lags per the NW (1994) rule. DSR: "
        "Bailey & Lopez de Prado (2014) with the trials recorded in the MLflow experiment.",
        *(f"Note: {x}" for x in run.notes),
        "", *decisions_markdown(run.decisions, level),
        "", "### Notes: rule counts, capacity, missing signals", "",
        *notes_markdown(run.notes_table, [str(s) for s in run.per_seed]),
    ]  # fmt: skip


def report_markdown(run: RunMetrics, cfg) -> str:
    """The full report (see the module docstring)."""
    lines = [f"## {cfg.title}: {run.period.start} .. {run.period.end}", ""]
    lines += caveats_markdown(run) + table2_markdown(run) + per_seed_markdown(run)
    lines += costs_markdown(run) + paired_markdown(run, cfg.ci_level) + yearly_markdown(run)
    lines += models_markdown(run)
    lines += sections.nulls_markdown(run) + sections.deciles_markdown(run)
    lines += sections.qlib_markdown(run)
    lines += [""] if run.per_seed else []
    lines += closing_markdown(run, cfg)
    return "\n".join(lines) + "\n"
