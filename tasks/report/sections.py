"""The report's baseline and diagnostic sections in markdown (beside Table 2).

Input contract: the combined metrics of `tasks.report.seeds.combine` (`per_seed` metrics with
`nulls`, and the ensemble's). Each section names the convention of its numbers.
"""

from __future__ import annotations

import math

from cnnlstm.tasks.report.baselines import NULL_TEXT


def _f(value, fmt: str = "{:.3f}") -> str:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return fmt.format(value) if ok else "n/a"


def nulls_markdown(metrics: dict) -> list[str]:
    """Each null's mean and 5-95% band per seed, and where the strategy falls in it."""
    runs = [(label, m.get("nulls") or {}) for label, m in metrics["per_seed"].items()]
    runs.append(("ensemble", metrics.get("ensemble", {}).get("nulls") or {}))
    rows = [(label, name, n) for label, nulls in runs for name, n in nulls.items()]
    if not rows:
        return []
    lines = ["", "### Null baselines (annualized net return, Table 2's convention)", ""]
    lines.append(
        "| null | seed | strategy | draws | null mean | 5-95% band | strategy | percentile |"
    )
    lines.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for label, name, n in rows:
        lines.append(
            f"| {name} | {label} | {n['strategy']} | {n['draws']} | {_f(n['mean'])} | "
            f"[{_f(n['p05'])}, {_f(n['p95'])}] | {_f(n['strategy_value'])} | "
            f"{_f(n['percentile'], '{:.0f}')} |"
        )
    lines.append("")
    names = sorted({name for _, name, _ in rows})
    lines += [f"- {NULL_TEXT.get(name, name)}." for name in names]
    lines.append(
        "- percentile: share of draws below the strategy (ties half); with no skill it is "
        "uniform on 0..100, so 95 or more happens by chance 1 time in 20."
    )
    return lines


def deciles_markdown(metrics: dict) -> list[str]:
    """The CNN's decile table and the LSTM's probability buckets, one row per seed."""
    runs = [*metrics["per_seed"].items()]
    if (metrics.get("ensemble") or {}).get("deciles"):
        runs.append(("ensemble", metrics["ensemble"]))
    rows = [(label, m["deciles"]) for label, m in runs if m.get("deciles")]
    lines = []
    if rows:
        lines += ["", "### CNN score deciles (out of sample)", ""]
        head = " | ".join(f"D{b}" for b in range(1, 11))
        lines.append(f"| seed | {head} | top 1% | D10-D1 (NW t) | monotonicity |")
        lines.append("| --- |" + " ---: |" * 13)
        for label, d in rows:
            cells = " | ".join(_f(d["deciles"][str(b)]["mean"], "{:+.4f}") for b in range(1, 11))
            top = _f((d.get("selected") or {}).get("mean"), "{:+.4f}")
            lines.append(
                f"| {label} | {cells} | {top} | {_f(d['top_minus_bottom'], '{:+.4f}')} "
                f"({_f(d['top_minus_bottom_t'], '{:.2f}')}) | "
                f"{_f(d['monotonicity_spearman'], '{:+.2f}')} |"
            )
        lines.append("")
        lines.append(
            f"Convention: {rows[0][1]['convention']}; top 1% = the CNN's own selection; "
            "monotonicity = Spearman of decile number and decile mean."
        )
    lstm = [(label, m["lstm_buckets"]) for label, m in runs if m.get("lstm_buckets")]
    if lstm:
        lines += ["", "### LSTM probability buckets (out of sample)", ""]
        lines.append("| seed | " + " | ".join(f"B{b}" for b in range(1, 6)) + " | monotonicity |")
        lines.append("| --- |" + " ---: |" * 6)
        for label, d in lstm:
            cells = " | ".join(
                f"{_f(b['mean_return'], '{:+.4f}')} (p {_f(b['prob_low'], '{:.2f}')}-"
                f"{_f(b['prob_high'], '{:.2f}')})"
                for b in d["buckets"].values()
            )
            lines.append(f"| {label} | {cells} | {_f(d['monotonicity_spearman'], '{:+.2f}')} |")
        lines.append("")
        lines.append(f"Convention: {lstm[0][1]['convention']}.")
    return lines


def qlib_markdown(metrics: dict) -> list[str]:
    """The Qlib-convention rows (mean over seeds), labelled with their convention."""
    qlib = metrics.get("qlib")
    if not qlib:
        return []
    lines = ["", "### Qlib-convention rows (to set beside Qlib's model zoo; mean over seeds)", ""]
    lines.append(
        "| strategy | excess return (ann., x238) | information ratio | max drawdown (sum) |"
    )
    lines.append("| --- | ---: | ---: | ---: |")
    for name, s in qlib["strategies"].items():
        lines.append(
            f"| {name} | {_f(s.get('excess_return'), '{:+.4f}')} | "
            f"{_f(s.get('information_ratio'), '{:.2f}')} | {_f(s.get('max_drawdown'), '{:.3f}')} |"
        )
    lines += ["", f"Convention: {qlib['convention']}."]
    cnn = qlib.get("cnn")
    if cnn:
        lines.append(
            f"CNN: IC {_f(cnn.get('ic'), '{:.4f}')}, ICIR {_f(cnn.get('icir'), '{:.2f}')}, "
            f"Rank IC {_f(cnn.get('rank_ic'), '{:.4f}')}, Rank ICIR "
            f"{_f(cnn.get('rank_icir'), '{:.2f}')} ({cnn['convention']})."
        )
    return lines
