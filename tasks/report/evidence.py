"""How sure one backtest's numbers are: Sharpe SE/PSR/DSR, gross/net, costs, timing, skill.

Sharpe SE/PSR/DSR, gross and net, cost sensitivity, timing's paired contribution, yearly
returns, CNN IC statistics and LSTM skill.

Input contract: the validated `nav` table of one run (every strategy and the benchmark on the
same dates), the same orders' `nav` under other cost multipliers (`cost_navs`, keyed by the
multiplier as text: "0" is gross of every cost), the CNN's scored months and the LSTM signals'
realized outcomes (with `prob_up`). Everything returned is plain numbers (metrics.json).

Definitions: the top-decile hit rate is the share of the top-decile (by CNN score) stock-months
whose realized return beats their month's median; LSTM "up" is a realized forward return > 0,
its AUC ranks `prob_up` against it, and "accuracy over base rate" is accuracy minus the
accuracy of always saying the majority direction.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from cnnlstm.tasks.report.metrics import daily_returns, performance
from cnnlstm.tasks.report.stats import (
    auc_interval,
    block_bootstrap_mean,
    newey_west_t,
    sharpe_stats,
)


def strategy_returns(nav: pl.DataFrame) -> dict[str, np.ndarray]:
    """Daily returns of every strategy in a nav table (from 1.0 the day before)."""
    out = {}
    for (name,), part in nav.sort("date").group_by("strategy", maintain_order=True):
        out[name] = daily_returns(part["nav"].to_numpy())
    return out


def sharpe_block(nav: pl.DataFrame, n_trials: int) -> dict[str, dict]:
    """Sharpe with SE, PSR(0) and DSR over `n_trials` per strategy."""
    return {name: sharpe_stats(r, n_trials=n_trials) for name, r in strategy_returns(nav).items()}


def cost_sensitivity(nav: pl.DataFrame, cost_navs: dict[str, pl.DataFrame]) -> dict[str, dict]:
    """Annualized return per strategy under each cost multiplier ("1" is `nav` itself)."""
    tables = {"1": nav, **cost_navs}
    out: dict[str, dict] = {}
    for mult in sorted(tables, key=float):
        table = tables[mult]
        for (name,), part in table.group_by("strategy", maintain_order=True):
            if name == "benchmark":
                continue
            perf = performance(part)
            out.setdefault(name, {})[f"{mult}x"] = perf["annualized_return"]
    return out


def paired_differences(
    nav: pl.DataFrame, *, block_days: int, samples: int, level: float, seed: int
) -> dict[str, dict]:
    """Paired daily return differences with block-bootstrap intervals (annualized means).

    `cnn_lstm-cnn` is timing's contribution; `<strategy>-equal_weight` each strategy's edge
    over the traded equal-weighted universe.
    """
    r = strategy_returns(nav)
    pairs = []
    if "cnn_lstm" in r and "cnn" in r:
        pairs.append(("cnn_lstm", "cnn"))
    if "equal_weight" in r:
        pairs += [(name, "equal_weight") for name in r if name not in ("equal_weight", "benchmark")]
    out = {}
    for a, b in pairs:
        diff = r[a] - r[b]
        ci = block_bootstrap_mean(
            diff, block_days=block_days, samples=samples, level=level, seed=seed
        )
        ci["excludes_zero"] = not (ci["ci_low"] <= 0.0 <= ci["ci_high"])
        out[f"{a}-{b}"] = ci
    return out


def yearly_returns(nav: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Each strategy's compounded return within each calendar year of the test."""
    out: dict[str, dict[str, float]] = {}
    for (name,), part in nav.sort("date").group_by("strategy", maintain_order=True):
        r = daily_returns(part["nav"].to_numpy())
        years = part["date"].dt.year().to_numpy()
        for year in np.unique(years):
            if (years == year).sum() < 2:  # e.g. the rebalance day before the first month
                continue
            out.setdefault(name, {})[str(int(year))] = float(np.prod(1.0 + r[years == year]) - 1)
    return out


def cnn_ic_stats(monthly: pl.DataFrame, scored: pl.DataFrame) -> dict[str, float]:
    """IC and rank IC means with Newey-West t-statistics, ICIR and the top-decile hit rate.

    `monthly` is `report_metrics.score_diagnostics`'s table; `scored` the scored stock-months.
    """
    ic = monthly["ic"].drop_nulls().drop_nans().to_numpy()
    rank_ic = monthly["rank_ic"].drop_nulls().drop_nans().to_numpy()
    nw_ic, nw_rank = newey_west_t(ic), newey_west_t(rank_ic)
    known = scored.filter(pl.col("target_return").is_not_null() & pl.col("score").is_finite())
    ranked = known.with_columns(
        pct=pl.col("score").rank("ordinal").over("month") / pl.len().over("month"),
        median=pl.col("target_return").median().over("month"),
    )
    top = ranked.filter(pl.col("pct") > 0.9)
    hit = float((top["target_return"] > top["median"]).mean()) if top.height else math.nan
    return {
        "ic_nw_t": nw_ic["t"],
        "rank_ic_nw_t": nw_rank["t"],
        "nw_lags": nw_ic["lags"],
        "rank_ic_ir": float(rank_ic.mean() / rank_ic.std(ddof=1)) if len(rank_ic) > 1 else math.nan,
        "top_decile_hit_rate": hit,
        "top_decile_n": top.height,
    }


def lstm_skill(outcomes: pl.DataFrame, *, samples: int, level: float, seed: int) -> dict:
    """Out-of-sample AUC with a bootstrap interval, base rate of "up", accuracy over it."""
    known = outcomes.filter(pl.col("fwd_return").is_not_null())
    if known.height == 0 or "prob_up" not in known.columns:
        return {"auc": math.nan, "auc_low": math.nan, "auc_high": math.nan, "base_rate": math.nan}
    up = (known["fwd_return"] > 0).to_numpy()
    said_up = (known["signal"] == 1).to_numpy()
    ci = auc_interval(up, known["prob_up"].to_numpy(), samples=samples, level=level, seed=seed)
    base = float(up.mean())
    accuracy = float((up == said_up).mean())
    return {
        "auc": ci["auc"],
        "auc_low": ci["ci_low"],
        "auc_high": ci["ci_high"],
        "base_rate": base,
        "accuracy_over_base": accuracy - max(base, 1.0 - base),
        "share_up_signals": float(said_up.mean()),
    }


def commission_burden(
    trades: pl.DataFrame,
    *,
    capital: float,
    min_commission: float,
    commission_rate: float,
    threshold_bps: float,
) -> dict[str, dict]:
    """Per strategy: the typical (median) buy slot and the minimum commission's share of it.

    `exceeds` when that share is above `threshold_bps`; `capital_to_avoid` is the capital at
    which it would not be (slots scale with the capital).
    """
    out = {}
    if min_commission <= 0 or trades.height == 0:
        return out
    buys = trades.filter(pl.col("side") == "buy").with_columns(
        value=pl.col("price") * pl.col("shares")
    )
    for (name,), part in buys.group_by("strategy", maintain_order=True):
        slot = float(part["value"].median())
        share = min_commission / slot if slot > 0 else math.inf
        limit = threshold_bps / 1e4
        out[name] = {
            "median_slot": slot,
            "min_commission_share": share,
            "share_at_minimum": float((part["value"] * commission_rate < min_commission).mean()),
            "exceeds": share > limit,
            "capital_to_avoid": capital * share / limit if share > limit else None,
        }
    return out
