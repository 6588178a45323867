"""Performance numbers of the report: returns, risk, costs, IC, timing accuracy, bootstrap CI.

Input contract: the `nav` table (date, strategy, nav, position_ratio, cash, costs; values
relative to the initial capital, one row per trading day), the `trades` ledger, and for the
model diagnostics the `scores` with realized `target_return`, the `selection`, and `signals`
with the market's prices. Daily returns run from the initial capital (nav 1.0 before the first
day). Annualization uses 252 trading days; Sharpe and Sortino use a zero risk-free rate.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from cnnlstm.core.frames import group_mean
from cnnlstm.tasks.backtest.api import MarketArrays
from cnnlstm.tasks.features.lstm import forward_returns
from cnnlstm.tasks.report.stats import block_bootstrap_mean

TRADING_DAYS = 252


def daily_returns(nav: np.ndarray) -> np.ndarray:
    """Daily simple returns of a nav series that starts from 1.0 the day before."""
    full = np.concatenate([[1.0], nav])
    return full[1:] / full[:-1] - 1.0


def max_drawdown(nav: np.ndarray) -> float:
    """Largest peak-to-trough fall of a nav series (0.25 = -25%), the start (1.0) included."""
    full = np.concatenate([[1.0], nav])
    return float(np.max(1.0 - full / np.maximum.accumulate(full)))


def drawdown_series(nav: np.ndarray) -> np.ndarray:
    """Drawdown from the running peak at each day (0 at a new high)."""
    full = np.concatenate([[1.0], nav])
    return (1.0 - full / np.maximum.accumulate(full))[1:]


def performance(
    nav: pl.DataFrame, trades: pl.DataFrame | None = None, *, capital: float = 1.0
) -> dict[str, float]:
    """Table 2's numbers for one strategy's `nav` rows and trades (`capital` in currency).

    Turnover is the traded value (buys plus sells) over twice the average portfolio value,
    per year: 12 means the whole portfolio is replaced about once a month.
    """
    values = nav.sort("date")["nav"].to_numpy()
    r = daily_returns(values)
    years = len(r) / TRADING_DAYS
    ann = values[-1] ** (1.0 / years) - 1.0 if values[-1] > 0 else -1.0
    vol = float(np.std(r, ddof=1) * math.sqrt(TRADING_DAYS)) if len(r) > 1 else math.nan
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    mean = float(np.mean(r)) * TRADING_DAYS
    mdd = max_drawdown(values)
    turnover = math.nan
    if trades is not None:
        traded = float((trades["price"] * trades["shares"]).sum()) if trades.height else 0.0
        turnover = traded / capital / (2.0 * float(np.mean(values))) / years
    return {
        "annualized_return": float(ann),
        "max_drawdown": mdd,
        "volatility": vol,
        "sharpe": mean / vol if vol > 0 else math.nan,
        "sortino": mean / (downside * math.sqrt(TRADING_DAYS)) if downside > 0 else math.nan,
        "calmar": float(ann) / mdd if mdd > 0 else math.nan,
        "turnover": turnover,
        "avg_position_ratio": float(nav["position_ratio"].mean()),
        "total_costs": float(nav["costs"].sum()),
        "final_nav": float(values[-1]),
    }


def excess_return_ci(
    strategy_nav: np.ndarray,
    benchmark_nav: np.ndarray,
    *,
    block_days: int = 20,
    samples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Annualized mean daily excess return over the benchmark with a block-bootstrap interval.

    Circular blocks of `block_days` consecutive days keep the returns' autocorrelation and
    volatility clustering; the interval is the percentile interval of the resampled means.
    """
    excess = daily_returns(strategy_nav) - daily_returns(benchmark_nav)
    boot = block_bootstrap_mean(
        excess, block_days=block_days, samples=samples, level=level, seed=seed, scale=TRADING_DAYS
    )
    return {
        "excess_return": boot["mean"],
        "ci_low": boot["ci_low"],
        "ci_high": boot["ci_high"],
        "level": level,
    }


def score_diagnostics(scored: pl.DataFrame, selection: pl.DataFrame | None = None) -> pl.DataFrame:
    """Monthly IC, rank IC and top-vs-median spread of a selector.

    Args:
        scored: `month`, `symbol`, `score`, `target_return` (month t's realized return; rows
            without it are not counted).
        selection: The selected (month, symbol); the spread is their mean return minus the
            month's median return. None: the spread is left null.

    Returns:
        One row per month: month, n, ic, rank_ic, top_minus_median.
    """
    # rows in a fixed order: a correlation's sums follow the row order
    known = scored.filter(pl.col("target_return").is_not_null() & pl.col("score").is_finite()).sort(
        "month", "symbol"
    )
    monthly = known.group_by("month").agg(
        n=pl.len(),
        ic=pl.corr("score", "target_return"),
        rank_ic=pl.corr("score", "target_return", method="spearman"),
        median=pl.col("target_return").median(),
    )
    if selection is not None:
        picked = known.join(selection.select("month", "symbol"), on=["month", "symbol"])
        top = group_mean(picked, "month", {"top": "target_return"})
        monthly = monthly.join(top, on="month", how="left").with_columns(
            top_minus_median=pl.col("top") - pl.col("median")
        )
    else:
        monthly = monthly.with_columns(top_minus_median=pl.lit(None, dtype=pl.Float64))
    return monthly.sort("month").select("month", "n", "ic", "rank_ic", "top_minus_median")


def signal_outcomes(
    signals: pl.DataFrame, market: MarketArrays, *, horizon: int = 5, execution: str = "open"
) -> pl.DataFrame:
    """Each signal's realized direction: the return from its execution price to close(d+h).

    Entry is open(d+1) (`open`) or close(d) (`close`); both ends need a traded bar, else the
    outcome is null (as the LSTM's own label is defined).
    """
    day = market.day_index()
    stock = market.stock_index()
    opens = np.where(market.tradable, market.open, np.nan)
    closes = np.where(market.tradable, market.close, np.nan)
    n_days = len(market.dates)
    keep = [c for c in ("symbol", "date", "signal", "prob_up") if c in signals.columns]
    rows = signals.select(keep)
    d = np.array([day.get(x, -1) for x in rows["date"].to_list()])
    s = np.array([stock.get(x, -1) for x in rows["symbol"].to_list()])
    ok = (d >= 0) & (s >= 0) & (d < n_days)
    grid = forward_returns(opens.T, closes.T, horizon=horizon, execution=execution)  # (S, D)
    fwd = np.full(len(d), np.nan)
    fwd[ok] = grid[s[ok], d[ok]]
    return rows.with_columns(fwd_return=pl.Series(fwd).fill_nan(None))


def timing_accuracy(outcomes: pl.DataFrame) -> dict[str, float]:
    """Accuracy, precision of +1 and the share of +1 signals, over signals with a known outcome."""
    known = outcomes.filter(pl.col("fwd_return").is_not_null())
    if known.height == 0:
        return {"n": 0, "accuracy": math.nan, "precision": math.nan, "share_up": math.nan}
    up = known["fwd_return"] > 0
    said_up = known["signal"] == 1
    hits = (up & said_up) | (~up & ~said_up)
    return {
        "n": known.height,
        "accuracy": float(hits.mean()),
        "precision": float(up.filter(said_up).mean()) if said_up.any() else math.nan,
        "share_up": float(said_up.mean()),
    }


def round_trip_hit_rate(trades: pl.DataFrame) -> dict[str, float]:
    """Share of a strategy's round trips (buy to full sell of a stock) that made money net.

    `trades` is one strategy's ledger in the backtest's order (chronological).
    """
    pnl: dict[str, float] = {}
    held: dict[str, float] = {}
    wins = total = 0
    for symbol, side, price, shares, cost in trades.select(
        "symbol", "side", "price", "shares", "cost"
    ).iter_rows():
        sign = -1.0 if side == "buy" else 1.0
        pnl[symbol] = pnl.get(symbol, 0.0) + sign * price * shares - cost
        held[symbol] = held.get(symbol, 0.0) - sign * shares
        if side == "sell" and held[symbol] <= 1e-9:
            total += 1
            wins += pnl[symbol] > 0
            pnl[symbol] = 0.0
            held[symbol] = 0.0
    return {"round_trips": total, "hit_rate": wins / total if total else math.nan}
