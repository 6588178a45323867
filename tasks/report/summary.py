"""The report on one screen: caveats, Table 2 (mean ± std over seeds), the comparisons that decide.

Input contract: the metrics of the report over seeds (`tasks.report.seeds.combine`: `caveats`,
`table2`, `seeds`, `per_seed`, `ensemble`, `notes_table`) and the `ReportConfig`. What the
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

from cnnlstm.tasks.report.notes import count_rows
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


def _estimate(entry: dict | None, mean_key: str = "mean") -> dict | None:
    """`{"mean", "ci_low", "ci_high"}` of an interval entry, or None when incomplete."""
    if not entry or not all(_finite(entry.get(k)) for k in (mean_key, "ci_low", "ci_high")):
        return None
    return {"mean": entry[mean_key], "ci_low": entry["ci_low"], "ci_high": entry["ci_high"]}


def _timing(m: dict) -> dict | None:
    return _estimate((m.get("paired") or {}).get("cnn_lstm-cnn"))


def _benchmark(m: dict) -> dict | None:
    return _estimate((m.get("strategies") or {}).get("cnn_lstm"), "excess_return")


def decisions(metrics: dict) -> list[dict]:
    """The comparisons that decide (see the module docstring), in the order shown."""
    per_seed = metrics["per_seed"]
    ens = metrics.get("ensemble") or {}
    ens_m = {
        "paired": ens.get("paired"),
        "strategies": ens.get("strategies", {}),
        "nulls": ens.get("nulls"),
    }
    ens_m["strategies"] = {"cnn_lstm": ens_m["strategies"].get("cnn_lstm_ensemble")}
    specs = [
        ("timing", "Timing: CNN-LSTM − CNN (paired)", _timing),
        ("benchmark", "CNN-LSTM − benchmark", _benchmark),
    ]
    for name in sorted({k for m in per_seed.values() for k in (m.get("nulls") or {})}):
        entry = next(m["nulls"][name] for m in per_seed.values() if name in (m.get("nulls") or {}))
        what = name.replace("_", " ")
        label = f"{registry.label(entry.get('strategy', 'cnn_lstm'))} − {what} null (5-95% band)"
        specs.append((f"null.{name}", label, _null_getter(name)))
    out = []
    for key, label, get in specs:
        seeds = {s: get(m) for s, m in per_seed.items()}
        seeds = {s: e for s, e in seeds.items() if e is not None}
        if not seeds:
            continue
        means = [e["mean"] for e in seeds.values()]
        out.append(
            {
                "key": key,
                "label": label,
                "mean": statistics.fmean(means),
                "std": statistics.stdev(means) if len(means) > 1 else None,
                "seeds": seeds,
                "excluding_zero": sum(
                    not (e["ci_low"] <= 0 <= e["ci_high"]) for e in seeds.values()
                ),
                "ensemble": get(ens_m) if any(ens_m.values()) else None,
            }
        )
    return out


def _null_getter(name: str):
    """The strategy's annualized net return minus the null's mean; the band: minus p95..p05."""

    def get(m: dict) -> dict | None:
        n = (m.get("nulls") or {}).get(name) or {}
        if not all(_finite(n.get(k)) for k in ("strategy_value", "mean", "p05", "p95")):
            return None
        value = n["strategy_value"]
        return {"mean": value - n["mean"], "ci_low": value - n["p95"], "ci_high": value - n["p05"]}

    return get


def _f(value, fmt: str = "{:+.3f}") -> str:
    return fmt.format(value) if _finite(value) else "n/a"


def _cell(stat: dict | None, fmt: str, n_seeds: int) -> str:
    if not stat or not _finite(stat.get("mean")):
        return "n/a"
    text = fmt.format(stat["mean"])
    spread = _finite(stat.get("std")) and stat["std"] > 1e-9 * max(1.0, abs(stat["mean"]))
    if n_seeds > 1 and stat.get("n", 1) > 1 and spread:
        text += f" ± {fmt.format(stat['std']).lstrip('+')}"
    return text


def decisions_markdown(rows: list[dict], level: float) -> list[str]:
    """The comparisons as a markdown table (annualized; intervals at `level`)."""
    if not rows:
        return []
    head = f"### Comparisons that decide (annualized; {level:.0%} block-bootstrap intervals)"
    lines = [head, "",
             "| comparison | over seeds: mean ± std | seed intervals excluding 0 | "
             "first seed [interval] | seed ensemble [interval] |",
             "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in rows:
        spread = f" ± {_f(r['std'], '{:.3f}')}" if r["std"] is not None else ""
        first = next(iter(r["seeds"].values()))
        first_text = f"{_f(first['mean'])} [{_f(first['ci_low'])}, {_f(first['ci_high'])}]"
        ens = r["ensemble"]
        ens_text = f"{_f(ens['mean'])} [{_f(ens['ci_low'])}, {_f(ens['ci_high'])}]" if ens else "-"
        lines.append(
            f"| {r['label']} | {_f(r['mean'])}{spread} | {r['excluding_zero']} of "
            f"{len(r['seeds'])} | {first_text} | {ens_text} |"
        )
    return lines


def summary_markdown(metrics: dict, cfg, names: list[str], labels: dict[str, str]) -> str:
    """The one-screen report (see the module docstring)."""
    seeds = metrics["seeds"]
    n = len(seeds)
    over = (
        f"mean ± std over {n} seeds ({', '.join(map(str, seeds))})" if n > 1 else f"seed {seeds[0]}"
    )
    lines = [f"## {cfg.title}: {metrics['period']['start']} .. {metrics['period']['end']}", ""]
    lines += [f"Caveat **{c['code']}**: {c['message']}" for c in metrics["caveats"]] or [
        "Caveats: none."
    ]
    lines += ["", f"### Table 2: {over}", ""]
    lines.append("| | " + " | ".join(labels.get(x, x) for x in names) + " |")
    lines.append("| --- |" + " ---: |" * len(names))
    table2 = metrics["table2"]
    for key, label, fmt in SCREEN_ROWS:
        cells = [_cell(table2[x].get(key), fmt, n) for x in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", f"Benchmark: {metrics['benchmark']['label']}.", ""]
    lines += decisions_markdown(metrics.get("decisions", []), cfg.ci_level)
    topics = count_rows(metrics.get("notes_table", []))
    if topics:
        what = ", ".join(f"{SHORT.get(t, t)} {k}" for t, k in topics.items())
        lines += ["", f"Notes table in the report: {sum(topics.values())} rows ({what})."]
    return "\n".join(lines) + "\n"
