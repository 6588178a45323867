"""The report's charts as PNG files: Fig. 4 net values, Fig. 3 position ratio, drawdowns.

Input contract: the `nav` table (date, strategy, nav, position_ratio, ...). Figures are drawn on
`matplotlib.figure.Figure` objects (no pyplot global state, no display needed) and saved at a
size and font readable at a glance.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from cnnlstm.tasks.report.measures import Deciles
from cnnlstm.tasks.report.metrics import drawdown_series
from cnnlstm.tasks.strategy import registry

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn: a cached run draws none
    from matplotlib.figure import Figure


def _figure(title: str) -> tuple[Figure, object]:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5.5), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=14)
    ax.grid(True, alpha=0.3)
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.tick_params(labelsize=11)
    return fig, ax


def _series(nav: pl.DataFrame):
    for (name,), part in nav.sort("date").group_by("strategy", maintain_order=True):
        yield str(name), part["date"].to_numpy(), part


def net_value_chart(nav: pl.DataFrame, path: Path, *, benchmark_label: str) -> Path:
    """Fig. 4: every strategy's net value (1.0 at the start)."""
    fig, ax = _figure("Net value (Fig. 4)")
    for name, dates, part in _series(nav):
        label = registry.label(name)
        if name == "benchmark":
            label = f"Benchmark ({benchmark_label})"
        ax.plot(dates, part["nav"].to_numpy(), label=label, **registry.style(name))
    ax.axhline(1.0, color="black", linewidth=0.6, alpha=0.5)
    ax.set_ylabel("net value", fontsize=12)
    ax.legend(fontsize=11, loc="best")
    fig.savefig(path)
    return path


def position_ratio_chart(nav: pl.DataFrame, path: Path, *, strategy: str = "cnn_lstm") -> Path:
    """Fig. 3: the share of the portfolio held in stocks each day for one strategy."""
    part = nav.filter(pl.col("strategy") == strategy).sort("date")
    fig, ax = _figure(f"Position ratio of {registry.label(strategy)} (Fig. 3)")
    dates = part["date"].to_numpy()
    ratio = part["position_ratio"].to_numpy()
    ax.fill_between(dates, ratio, step="post", alpha=0.35, color="tab:red")
    ax.step(dates, ratio, where="post", color="tab:red", linewidth=1.0)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("position ratio", fontsize=12)
    fig.savefig(path)
    return path


def drawdown_chart(nav: pl.DataFrame, path: Path) -> Path:
    """Each strategy's drawdown from its running peak."""
    fig, ax = _figure("Drawdown")
    low = -0.05
    for name, dates, part in _series(nav):
        dd = -drawdown_series(part["nav"].to_numpy())
        low = min(low, float(np.min(dd)))
        ax.plot(dates, dd, label=registry.label(name), **registry.style(name))
    ax.set_ylabel("drawdown", fontsize=12)
    ax.set_ylim(low * 1.05, 0.01)
    ax.legend(fontsize=11, loc="lower left")
    fig.savefig(path)
    return path


def decile_chart(deciles: Deciles, path: Path) -> Path:
    """The CNN's mean forward monthly return by score decile, the selection beside."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title("CNN score deciles: mean forward monthly return (out of sample)", fontsize=13)
    ax.grid(True, axis="y", alpha=0.3)
    names = sorted(deciles.deciles, key=int)  # D1..D10 (the file's keys sort as text)
    means = [deciles.deciles[b].mean for b in names]
    if deciles.selected:
        names, means = [*names, "top 1%"], [*means, deciles.selected.mean]
    colors = ["tab:blue"] * len(deciles.deciles) + ["tab:red"] * (len(names) - 10)
    ax.bar(names, means, color=colors)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xlabel("score decile (1 = lowest)", fontsize=12)
    ax.set_ylabel("mean return, next month", fontsize=12)
    fig.savefig(path)
    return path
