"""The report's baseline and diagnostic sections in markdown (beside Table 2).

Input contract: the report over seeds' `RunMetrics` (`tasks.report.seeds.combine`). Each
section names the convention of its numbers.
"""

from __future__ import annotations

import math

from cnnlstm.tasks.report.baselines import NULL_TEXT
from cnnlstm.tasks.report.measures import Deciles, LstmBuckets, RunMetrics
from cnnlstm.tasks.report.tables import aligned, markdown_table


def _f(value, fmt: str = "{:.3f}") -> str:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return fmt.format(value) if ok else "n/a"


def nulls_markdown(run: RunMetrics) -> list[str]:
    """Each null's mean and 5-95% band per seed, and where the strategy falls in it."""
    runs = [(label, m.nulls) for label, m in run.per_seed.items()]
    runs.append(("ensemble", run.ensemble.nulls or {}))
    rows = [(label, name, n) for label, nulls in runs for name, n in nulls.items()]
    if not rows:
        return []
    head = ["null", "seed", "strategy", "draws", "null mean", "5-95% band", "strategy",
            "percentile"]  # fmt: skip
    cells = [
        [name, label, n.strategy, str(n.draws), _f(n.mean), f"[{_f(n.p05)}, {_f(n.p95)}]",
         _f(n.strategy_value), _f(n.percentile, "{:.0f}")]
        for label, name, n in rows
    ]  # fmt: skip
    lines = ["", "### Null baselines (annualized net return, Table 2's convention)", ""]
    lines += [*markdown_table(head, cells, aligned(3, 5)), ""]
    names = sorted({name for _, name, _ in rows})
    lines += [f"- {NULL_TEXT.get(name, name)}." for name in names]
    lines.append(
        "- percentile: share of draws below the strategy (ties half); with no skill it is "
        "uniform on 0..100, so 95 or more happens by chance 1 time in 20."
    )
    return lines


def _decile_table(rows: list[tuple[str, Deciles]]) -> list[str]:
    head = ["seed", *(f"D{b}" for b in range(1, 11)), "top 1%", "D10-D1 (NW t)", "monotonicity"]
    cells = [
        [label, *(_f(d.deciles[str(b)].mean, "{:+.4f}") for b in range(1, 11)),
         _f(d.selected.mean if d.selected else None, "{:+.4f}"),
         f"{_f(d.top_minus_bottom, '{:+.4f}')} ({_f(d.top_minus_bottom_t, '{:.2f}')})",
         _f(d.monotonicity_spearman, "{:+.2f}")]
        for label, d in rows
    ]  # fmt: skip
    return [
        "", "### CNN score deciles (out of sample)", "",
        *markdown_table(head, cells, aligned(1, 13)), "",
        f"Convention: {rows[0][1].convention}; top 1% = the CNN's own selection; "
        "monotonicity = Spearman of decile number and decile mean.",
    ]  # fmt: skip


def _bucket_table(rows: list[tuple[str, LstmBuckets]]) -> list[str]:
    head = ["seed", *(f"B{b}" for b in range(1, 6)), "monotonicity"]
    cells = [
        [label, *(f"{_f(b.mean_return, '{:+.4f}')} (p {_f(b.prob_low, '{:.2f}')}-"
                  f"{_f(b.prob_high, '{:.2f}')})" for b in d.buckets.values()),
         _f(d.monotonicity_spearman, "{:+.2f}")]
        for label, d in rows
    ]  # fmt: skip
    return [
        "", "### LSTM probability buckets (out of sample)", "",
        *markdown_table(head, cells, aligned(1, 6)), "",
        f"Convention: {rows[0][1].convention}.",
    ]  # fmt: skip


def deciles_markdown(run: RunMetrics) -> list[str]:
    """The CNN's decile table and the LSTM's probability buckets, one row per seed."""
    runs = list(run.per_seed.items())
    deciles = [(label, m.deciles) for label, m in runs if m.deciles]
    buckets = [(label, m.lstm_buckets) for label, m in runs if m.lstm_buckets]
    return (_decile_table(deciles) if deciles else []) + (_bucket_table(buckets) if buckets else [])


def qlib_markdown(run: RunMetrics) -> list[str]:
    """The Qlib-convention rows (mean over seeds), labelled with their convention."""
    qlib = run.qlib
    if not qlib:
        return []
    head = ["strategy", "excess return (ann., x238)", "information ratio", "max drawdown (sum)"]
    cells = [
        [name, _f(s.excess_return, "{:+.4f}"), _f(s.information_ratio, "{:.2f}"),
         _f(s.max_drawdown, "{:.3f}")]
        for name, s in qlib.strategies.items()
    ]  # fmt: skip
    lines = ["", "### Qlib-convention rows (to set beside Qlib's model zoo; mean over seeds)", ""]
    lines += [*markdown_table(head, cells, aligned(1, 3)), "", f"Convention: {qlib.convention}."]
    cnn = qlib.cnn
    if cnn:
        lines.append(
            f"CNN: IC {_f(cnn.ic, '{:.4f}')}, ICIR {_f(cnn.icir, '{:.2f}')}, "
            f"Rank IC {_f(cnn.rank_ic, '{:.4f}')}, Rank ICIR "
            f"{_f(cnn.rank_icir, '{:.2f}')} ({cnn.convention})."
        )
    return lines
