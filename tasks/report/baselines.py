"""The null baselines in numbers: each null's mean and 5-95% band, and the strategy's percentile.

Input contract: the backtest's null table (`null`, `draw`, `date`, `nav` over capital; see
`tasks.strategy.nulls`) and the strategies' `nav` table on the same dates. The statistic is
Table 2's annualized net return (geometric, 252 days a year): a draw and the strategy it stands
for are measured the same way. The percentile is the share of draws below the strategy, ties
counted half (50 = the null's median; with no skill it is uniform on 0..100).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.report.metrics import TRADING_DAYS

NULL_OF = {"random_selection": "cnn", "random_timing": "cnn_lstm"}
NULL_TEXT = {
    "random_selection": (
        "random-selection null: as many stocks a month as the CNN picked, drawn from the same "
        "eligible universe, same kernel, rules, lots and costs"
    ),
    "random_timing": (
        "random-timing null: the CNN's own picks with random +1/-1 signals at the LSTM's own "
        "share of +1, same held-days rule"
    ),
}


def annualized(navs: np.ndarray) -> np.ndarray:
    """Table 2's annualized return of each row of `(V, T)` net values (1.0 the day before)."""
    years = navs.shape[-1] / TRADING_DAYS
    last = navs[..., -1]
    return np.where(last > 0, np.abs(last) ** (1.0 / years) - 1.0, -1.0)


def percentile_in(value: float, draws: np.ndarray) -> float:
    """Share of draws below `value` (ties half) in percent."""
    if draws.size == 0 or not math.isfinite(value):
        return math.nan
    return float(100.0 * (np.mean(draws < value) + 0.5 * np.mean(draws == value)))


def null_summary(null_nav: pl.DataFrame | None, nav: pl.DataFrame) -> dict[str, dict]:
    """Per null: the statistic, draws, mean, 5-95% band, the strategy's value and percentile.

    Raises:
        UserInputError: the null's dates are not the strategies' dates.
    """
    if null_nav is None or null_nav.height == 0:
        return {}
    dates = nav.filter(pl.col("strategy") == "benchmark").sort("date")["date"]
    out = {}
    for (name,), part in null_nav.group_by("null", maintain_order=True):
        strategy = NULL_OF.get(str(name))
        own = nav.filter(pl.col("strategy") == strategy).sort("date")
        if strategy is None or own.height == 0:
            continue
        part = part.sort("draw", "date")
        n_draws = part["draw"].n_unique()
        if part.height != n_draws * dates.len() or not part["date"].head(dates.len()).equals(dates):
            raise UserInputError(f"null {name}: its dates are not the backtest's dates")
        values = annualized(part["nav"].to_numpy().reshape(n_draws, dates.len()))
        mine = float(annualized(own["nav"].to_numpy()))
        out[str(name)] = {
            "strategy": strategy,
            "statistic": "annualized net return (Table 2)",
            "draws": n_draws,
            "mean": float(values.mean()),
            "p05": float(np.quantile(values, 0.05)),
            "p95": float(np.quantile(values, 0.95)),
            "strategy_value": mine,
            "percentile": percentile_in(mine, values),
        }
    return out


def baseline_labels(capital: float, equal_weight_needs: float | None) -> dict[str, dict]:
    """What each equal-weighted baseline is, and whether the traded one fits the capital."""
    tradable = equal_weight_needs is None or capital >= equal_weight_needs
    traded = {
        "label": "equal-weighted universe, traded monthly (kernel, rules, lots, costs)",
        "capital": capital,
        "capital_needed": equal_weight_needs,
        "tradable": tradable,
    }
    if not tradable:
        traded["text"] = f"not tradable at {capital:,.0f} (needs >= {equal_weight_needs:,.0f})"
    return {
        "equal_weight": traded,
        "ew_index": {"label": "equal-weighted universe index, rebalanced daily, no costs"},
        "ew_index_monthly": {
            "label": "equal-weighted universe index, rebalanced monthly (the strategies' "
            "frequency), no costs"
        },
    }
