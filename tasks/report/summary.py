"""The report on one screen: caveats, Table 2 (mean ± std over seeds), the comparisons that decide.

Input contract: the report over seeds' `RunMetrics` (`tasks.report.seeds.combine`) and the
`ReportConfig`. What the
console and the Prefect "Table 2" artifact show; everything else (per-seed tables, cost
sensitivity, yearly returns, model skill, the notes table) is in the full report (`table2.md`,
`report.html`, `metrics.json`).

The comparisons that decide, each over the seeds (mean ± std of the per-seed estimate, how many
seeds' intervals exclude 0) and for the seed ensemble (its estimate and interval):
- timing's contribution: the paired daily difference CNN-LSTM − CNN (`paired["cnn_lstm-cnn"]`);
- the strategy against the benchmark: CNN-LSTM's annualized excess return and its interval;
- the strategy against each like-for-like null the report holds (a seed's `nulls`, e.g. random
  selections of the same size under the same rules and costs): the strategy's annualized net
  return minus the null's mean, with the null's 5-95% band as the interval (it excludes 0
  exactly when the strategy's percentile in the null is below 5 or above 95).
"""

from __future__ import annotations

import math
import statistics

from cnnlstm.tasks.report.measures import (
    Decision,
    Estimate,
    NullBand,
    PairedDiff,
    RunMetrics,
    SeedStat,
    StrategyRow,
)
from cnnlstm.tasks.report.notes import count_rows
from cnnlstm.tasks.report.tables import aligned, markdown_table
from cnnlstm.tasks.strategy import registry

#: The notes table's topics as the console's one line names them.
SHORT = {
    "note": "in words",
    "rule": "rule counts",
    "blocked": "blocked attempts",
    "capacity": "capacity",
    "missing_signals": "missing signals",
    "raw_prices": "price basis",
}
#: Table 2's rows on the console (key, label, format).
SCREEN_ROWS = (
    ("net_return", "Annualized return, net", "{:.3f}"),
    ("gross_return", "Annualized return, gross", "{:.3f}"),
    ("max_drawdown", "Maximum drawdown", "{:.3f}"),
    ("volatility", "Annualized volatility", "{:.3f}"),
    ("sharpe", "Sharpe ratio (net)", "{:.2f}"),
    ("psr", "Probabilistic Sharpe P(SR > 0)", "{:.2f}"),
    ("dsr", "Deflated Sharpe ratio", "{:.2f}"),
    ("calmar", "Calmar ratio", "{:.2f}"),
    ("turnover", "Turnover (per year)", "{:.1f}"),
    ("avg_position_ratio", "Average position ratio", "{:.2f}"),
    ("total_costs", "Total costs (of capital)", "{:.4f}"),
    ("excess_return", "Excess return vs benchmark", "{:+.3f}"),
)


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _estimate(mean: float | None, low: float | None, high: float | None) -> Estimate | None:
    """An estimate with its interval, or None when a bound is undefined."""
    if not all(_finite(v) for v in (mean, low, high)):
        return None
    return Estimate(mean=mean, ci_low=low, ci_high=high)


def _timing(
    paired: dict[str, PairedDiff] | None, row: StrategyRow | None, nulls
) -> Estimate | None:
    diff = (paired or {}).get("cnn_lstm-cnn")
    return None if diff is None else _estimate(diff.mean, diff.ci_low, diff.ci_high)


def _benchmark(paired, row: StrategyRow | None, nulls) -> Estimate | None:
    return None if row is None else _estimate(row.excess_return, row.ci_low, row.ci_high)


def _null_getter(name: str):
    """The strategy's annualized net return minus the null's mean; the band: minus p95..p05."""

    def get(paired, row, nulls: dict[str, NullBand] | None) -> Estimate | None:
        n = (nulls or {}).get(name)
        if n is None or not all(_finite(v) for v in (n.strategy_value, n.mean, n.p05, n.p95)):
            return None
        value = n.strategy_value
        return Estimate(mean=value - n.mean, ci_low=value - n.p95, ci_high=value - n.p05)

    return get


def _specs(run: RunMetrics) -> list[tuple]:
    specs = [
        ("timing", "Timing: CNN-LSTM − CNN (paired)", _timing),
        ("benchmark", "CNN-LSTM − benchmark", _benchmark),
    ]
    for name in sorted({k for m in run.per_seed.values() for k in m.nulls}):
        entry = next(m.nulls[name] for m in run.per_seed.values() if name in m.nulls)
        what = name.replace("_", " ")
        label = f"{registry.label(entry.strategy or 'cnn_lstm')} − {what} null (5-95% band)"
        specs.append((f"null.{name}", label, _null_getter(name)))
    return specs


def decisions(run: RunMetrics) -> list[Decision]:
    """The comparisons that decide (see the module docstring), in the order shown."""
    ens = run.ensemble
    out = []
    ensemble = ens.strategies.get("cnn_lstm_ensemble")
    for key, label, get in _specs(run):
        seeds = {
            s: get(m.paired, m.strategies.get("cnn_lstm"), m.nulls) for s, m in run.per_seed.items()
        }
        seeds = {s: e for s, e in seeds.items() if e is not None}
        if not seeds:
            continue
        means = [e.mean for e in seeds.values()]
        out.append(
            Decision(
                key=key,
                label=label,
                mean=statistics.fmean(means),
                std=statistics.stdev(means) if len(means) > 1 else None,
                seeds=seeds,
                excluding_zero=sum(not (e.ci_low <= 0 <= e.ci_high) for e in seeds.values()),
                ensemble=get(ens.paired, ensemble, ens.nulls),
            )
        )
    return out


def _f(value, fmt: str = "{:+.3f}") -> str:
    return fmt.format(value) if _finite(value) else "n/a"


def _cell(stat: SeedStat | None, fmt: str, n_seeds: int) -> str:
    if stat is None or not _finite(stat.mean):
        return "n/a"
    text = fmt.format(stat.mean)
    spread = _finite(stat.std) and stat.std > 1e-9 * max(1.0, abs(stat.mean))
    if n_seeds > 1 and stat.n > 1 and spread:
        text += f" ± {fmt.format(stat.std).lstrip('+')}"
    return text


def _interval(e: Estimate | None) -> str:
    return "-" if e is None else f"{_f(e.mean)} [{_f(e.ci_low)}, {_f(e.ci_high)}]"


def decisions_markdown(rows: list[Decision], level: float) -> list[str]:
    """The comparisons as a markdown table (annualized; intervals at `level`)."""
    if not rows:
        return []
    head = f"### Comparisons that decide (annualized; {level:.0%} block-bootstrap intervals)"
    columns = ["comparison", "over seeds: mean ± std", "seed intervals excluding 0",
               "first seed [interval]", "seed ensemble [interval]"]  # fmt: skip
    cells = [
        [
            r.label,
            _f(r.mean) + (f" ± {_f(r.std, '{:.3f}')}" if r.std is not None else ""),
            f"{r.excluding_zero} of {len(r.seeds)}",
            _interval(next(iter(r.seeds.values()))),
            _interval(r.ensemble),
        ]
        for r in rows
    ]
    return [head, "", *markdown_table(columns, cells, aligned(1, 4))]


def summary_markdown(run: RunMetrics, cfg) -> str:
    """The one-screen report (see the module docstring)."""
    seeds = run.seeds
    n = len(seeds)
    over = (
        f"mean ± std over {n} seeds ({', '.join(map(str, seeds))})" if n > 1 else f"seed {seeds[0]}"
    )
    names = sorted(run.table2, key=registry.order_key)
    lines = [f"## {cfg.title}: {run.period.start} .. {run.period.end}", ""]
    lines += [f"Caveat **{c.code}**: {c.message}" for c in run.caveats] or ["Caveats: none."]
    lines += ["", f"### Table 2: {over}", ""]
    rows = [
        [label, *(_cell(getattr(run.table2[x], key), fmt, n) for x in names)]
        for key, label, fmt in SCREEN_ROWS
    ]
    lines += markdown_table(["", *(registry.label(x) for x in names)], rows, aligned(1, len(names)))
    lines += ["", f"Benchmark: {run.benchmark.label}.", ""]
    lines += decisions_markdown(run.decisions, cfg.ci_level)
    topics = count_rows(run.notes_table)
    if topics:
        what = ", ".join(f"{SHORT.get(t, t)} {k}" for t, k in topics.items())
        lines += ["", f"Notes table in the report: {sum(topics.values())} rows ({what})."]
    return "\n".join(lines) + "\n"
