"""The tear sheet: one self-contained HTML file a researcher opens, reads and sends.

Input contract: the report over seeds (`tasks.report.seeds.combine`: its `RunMetrics`, markdown)
and every seed's `nav` table (label -> date, strategy, nav, position_ratio). Output: one HTML
document with nothing outside it: no script, no stylesheet or font to fetch, every chart a PNG
embedded as base64. It holds the one-screen summary, the charts (net value with the seeds'
band, drawdown, position ratio, yearly returns, timing's contribution over time, cost
sensitivity, and score buckets when the report has them) and the full report's tables (caveats,
Table 2, per seed, cost sensitivity, paired differences, yearly, models, notes).

Bands: a seed-dependent strategy (CNN-LSTM, CNN) is drawn as the mean over the seeds with the
seeds' min..max as a shaded band; the others do not depend on the seed and are one line.
Score buckets: the CNN's decile table (`RunMetrics.deciles`, bucket -> mean forward monthly
return) when the report has one, with the seeds' min..max.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from cnnlstm.tasks.report.measures import RunMetrics
from cnnlstm.tasks.report.metrics import drawdown_series
from cnnlstm.tasks.strategy import registry

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn: a cached run draws none
    from matplotlib.figure import Figure

SEED_DEPENDENT = tuple(s.name for s in registry.specs() if s.seed_dependent)
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1200px;color:#1d1d1f;line-height:1.4}
h1{font-size:1.6em}h2{font-size:1.3em;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px}th{background:#f4f4f6}
td{text-align:right}td:first-child{text-align:left}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.charts figure{margin:0}.charts img{width:100%;border:1px solid #eee}
figcaption{font-size:12px;color:#555}
.caveat{background:#fff6e5;border-left:4px solid #f0a500;padding:4px 10px;margin:4px 0}
"""


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _axes(title: str, ylabel: str) -> tuple[Figure, object]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=12)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def seed_matrix(navs: Mapping[str, pl.DataFrame], strategy: str, column: str = "nav"):
    """(dates, seeds x days array) of one strategy's `column` over the seeds (None if absent)."""
    parts = []
    dates = None
    for nav in navs.values():
        part = nav.filter(pl.col("strategy") == strategy).sort("date")
        if part.height == 0:
            continue
        dates = part["date"].to_numpy() if dates is None else dates
        if part.height == len(dates):
            parts.append(part[column].to_numpy())
    return (dates, np.vstack(parts)) if parts else (None, None)


def _banded(ax, navs, name: str, transform=lambda a: a, column: str = "nav") -> None:
    dates, values = seed_matrix(navs, name, column)
    if values is None:
        return
    values = np.vstack([transform(v) for v in values])
    style = dict(registry.style(name))
    n = values.shape[0]
    label = registry.label(name) + (
        f" (mean of {n} seeds)" if n > 1 and name in SEED_DEPENDENT else ""
    )
    ax.plot(dates, values.mean(axis=0), label=label, **style)
    if n > 1 and name in SEED_DEPENDENT:
        band = f"{registry.label(name)}: seeds' min..max"
        low, high = values.min(axis=0), values.max(axis=0)
        ax.fill_between(dates, low, high, alpha=0.2, color=style.get("color"), label=band)


def _strategies(navs) -> list[str]:
    first = next(iter(navs.values()))
    have = first["strategy"].unique().to_list()
    return sorted(have, key=registry.order_key, reverse=True)  # the strategies drawn last


def net_value_png(navs, benchmark_label: str) -> str:
    """Every strategy's net value; the seed-dependent ones as mean line and min..max band."""
    fig, ax = _axes("Net value (Fig. 4), seeds' band", "net value")
    for name in _strategies(navs):
        _banded(ax, navs, name)
    ax.axhline(1.0, color="black", linewidth=0.6, alpha=0.5)
    ax.legend(fontsize=8, title=f"benchmark: {benchmark_label}", title_fontsize=8)
    fig.autofmt_xdate()
    return _png(fig)


def drawdown_png(navs) -> str:
    """Each strategy's drawdown from its running peak (seed band as in the net value)."""
    fig, ax = _axes("Drawdown from the running peak", "drawdown")
    for name in _strategies(navs):
        _banded(ax, navs, name, transform=lambda a: -drawdown_series(a))
    ax.legend(fontsize=8, loc="lower left")
    fig.autofmt_xdate()
    return _png(fig)


def position_png(navs) -> str:
    """CNN-LSTM's share of capital in stocks each day, over the seeds."""
    fig, ax = _axes("Position ratio of CNN-LSTM (Fig. 3)", "share of capital in stocks")
    _banded(ax, navs, "cnn_lstm", column="position_ratio")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return _png(fig)


def timing_png(navs) -> str | None:
    """Timing's contribution: log(CNN-LSTM net value / CNN net value), per seed."""
    dates, timed = seed_matrix(navs, "cnn_lstm")
    _, plain = seed_matrix(navs, "cnn")
    if timed is None or plain is None or timed.shape != plain.shape:
        return None
    diff = np.log(timed / plain)
    fig, ax = _axes("Timing's contribution: log(CNN-LSTM / CNN net value)", "log ratio")
    ax.plot(dates, diff.mean(axis=0), color="tab:red", label=f"mean of {diff.shape[0]} seeds")
    if diff.shape[0] > 1:
        ax.fill_between(dates, diff.min(axis=0), diff.max(axis=0), color="tab:red", alpha=0.2,
                        label="seeds' min..max")  # fmt: skip
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return _png(fig)


def _bars(title: str, ylabel: str, groups: list[str], series: dict[str, list[float]]) -> str:
    fig, ax = _axes(title, ylabel)
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for i, (name, values) in enumerate(series.items()):
        heights = [v if v is not None and math.isfinite(v) else 0.0 for v in values]
        color = dict(registry.style(name)).get("color")
        ax.bar(x + i * width, heights, width, label=registry.label(name), color=color)
    ax.set_xticks(x + width * (len(series) - 1) / 2, groups)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.legend(fontsize=8)
    return _png(fig)


def yearly_png(metrics: RunMetrics) -> str | None:
    """Each strategy's return per calendar year (mean over seeds) as grouped bars."""
    yearly = metrics.yearly
    years = sorted({y for v in yearly.values() for y in v})
    if not years:
        return None
    names = sorted(yearly, key=registry.order_key)
    series = {n: [yearly[n].get(y) for y in years] for n in names}
    return _bars("Yearly returns (mean over seeds)", "return", years, series)


def costs_png(metrics: RunMetrics) -> str | None:
    """Annualized return at each cost multiple (the same orders re-run)."""
    costs = metrics.cost_sensitivity
    mults = sorted({k for v in costs.values() for k in v}, key=lambda k: float(k.rstrip("x")))
    if len(mults) < 2:
        return None
    fig, ax = _axes(
        "Cost sensitivity: the same orders at multiples of the costs", "annualized return"
    )
    x = [float(m.rstrip("x")) for m in mults]
    for name, values in costs.items():
        color = dict(registry.style(name)).get("color")
        ys = [values.get(m, math.nan) for m in mults]
        ax.plot(x, ys, marker="o", label=registry.label(name), color=color)
    ax.set_xlabel("cost multiple (1 = the run)")
    ax.legend(fontsize=8)
    return _png(fig)


def deciles_png(metrics: RunMetrics) -> str | None:
    """The CNN's score deciles: mean forward return per decile over seeds, seeds' min..max."""
    table = metrics.deciles.deciles if metrics.deciles else {}
    if not table:
        return None
    buckets = sorted(table, key=_bucket_order)
    means = [_num(table[b].mean) for b in buckets]
    per_seed = [m.deciles.deciles if m.deciles else {} for m in metrics.per_seed.values()]
    fig, ax = _axes("Score buckets: CNN score deciles (D1 lowest)", "mean forward monthly return")
    x = np.arange(len(buckets))
    ax.bar(x, [v if math.isfinite(v) else 0.0 for v in means], 0.7, color="tab:blue",
           label=f"mean over {len(per_seed) or 1} seeds")  # fmt: skip
    spread = [[_num(d[b].mean) if b in d else math.nan for d in per_seed] for b in buckets]
    if len(per_seed) > 1:
        low = [m - np.nanmin(v) for m, v in zip(means, spread, strict=True)]
        high = [np.nanmax(v) - m for m, v in zip(means, spread, strict=True)]
        ax.errorbar(x, means, yerr=[low, high], fmt="none", ecolor="black", capsize=3,
                    label="seeds' min..max")  # fmt: skip
    ax.set_xticks(x, [f"D{b}" for b in buckets])
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.legend(fontsize=8)
    return _png(fig)


def _bucket_order(bucket: str):
    digits = re.findall(r"\d+", str(bucket))
    return (int(digits[0]) if digits else 0, str(bucket))


def _num(value) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    )


def charts(metrics: RunMetrics, navs: Mapping[str, pl.DataFrame]) -> list[tuple[str, str]]:
    """(caption, base64 PNG) of every chart the report's data allows, in reading order."""
    label = metrics.benchmark.label
    found = [
        ("Net value: mean over seeds, min..max band", net_value_png(navs, label)),
        ("Drawdown", drawdown_png(navs)),
        ("Position ratio of CNN-LSTM", position_png(navs)),
        ("Timing's contribution over time", timing_png(navs)),
        ("Yearly returns", yearly_png(metrics)),
        ("Cost sensitivity", costs_png(metrics)),
        ("Score buckets", deciles_png(metrics)),
    ]
    return [(c, png) for c, png in found if png]


def markdown_to_html(text: str) -> str:
    """The report's own markdown (headings, tables, list items, paragraphs, **bold**) as HTML."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if not table:
            return
        head, *body = table
        out.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr></thead>")
        out.append("<tbody>" + "".join(
            "<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body
        ) + "</tbody></table>")  # fmt: skip
        table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            cells = [_inline(c.strip().replace("\\|", "|")) for c in _cells(line)]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                table.append(cells)
            continue
        flush()
        if not line.strip():
            continue
        level = len(line) - len(line.lstrip("#"))
        if 0 < level <= 4 and line[level : level + 1] == " ":
            out.append(f"<h{level + 1}>{_inline(line[level + 1 :])}</h{level + 1}>")
        elif line.startswith("- "):
            out.append(f'<div class="caveat">{_inline(line[2:])}</div>')
        else:
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


def _cells(line: str) -> list[str]:
    """A markdown table row's cells (an escaped pipe stays inside its cell)."""
    return re.split(r"(?<!\\)\|", line.strip().removeprefix("|").removesuffix("|"))


def _inline(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))


def tear_sheet_html(
    metrics: RunMetrics,
    markdown: str,
    summary: str,
    navs: Mapping[str, pl.DataFrame],
    *,
    title: str = "CNN-LSTM backtest",
) -> str:
    """The tear sheet (see the module docstring) as one HTML document."""
    figures = "\n".join(
        f'<figure><img alt="{html.escape(c)}" src="data:image/png;base64,{png}">'
        f"<figcaption>{html.escape(c)}</figcaption></figure>"
        for c, png in charts(metrics, navs)
    )
    period = metrics.period
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}: {period.start} .. {period.end}</title>"
        f"<style>{CSS}</style></head><body>\n"
        f"<h1>{html.escape(title)} — tear sheet</h1>\n"
        f'<section id="summary">{markdown_to_html(summary.split(chr(10), 1)[-1])}</section>\n'
        f'<h2>Charts</h2><div class="charts">{figures}</div>\n'
        f'<h2>The full report</h2><section id="report">{markdown_to_html(markdown)}</section>\n'
        "</body></html>\n"
    )
