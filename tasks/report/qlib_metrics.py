"""Field-comparable numbers in Qlib's conventions, so a run can sit beside Qlib's model zoo.

Qlib's `risk_analysis` (qlib/contrib/evaluate.py, mode "sum", daily): on the daily excess return
r = strategy return - benchmark return (net of costs here, as Qlib's "excess_return_with_cost"),
annualized return = mean(r) x 238, information ratio = mean(r) / std(r, ddof 1) x sqrt(238),
max drawdown = min(cumsum(r) - running max of cumsum(r)) (a negative number, on the cumulative
sum, not the compounded curve). These are NOT Table 2's numbers (geometric, 252 days, drawdown
of the compounded net value).

The CNN's IC, ICIR, Rank IC and Rank ICIR here are monthly: Pearson / Spearman correlation of
the score with the next month's return across each month's stocks, their mean over months and
mean / std (ddof 1). Qlib's zoo correlates daily scores with a 2-day-ahead return
(Ref($close, -2) / Ref($close, -1) - 1), so the horizons differ: compare the order of magnitude
and sign, not the digits.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from cnnlstm.tasks.report.metrics import daily_returns

QLIB_DAYS = 238
CONVENTION = (
    "Qlib risk_analysis, mode sum: daily excess return over the benchmark net of costs; "
    "annualized = mean x 238; IR = mean / std x sqrt(238); max drawdown on the cumulative sum"
)
IC_CONVENTION = (
    "monthly cross-section, label = next month's return (Qlib's zoo: daily, 2-day label); "
    "ICIR = mean / std over months"
)


def risk_analysis_sum(r: np.ndarray) -> dict[str, float]:
    """Qlib's `risk_analysis(r, freq="day")` in its default "sum" mode."""
    r = np.asarray(r, dtype=float)
    if r.size < 2:
        return {k: math.nan for k in ("mean", "std", "annualized_return", "information_ratio")} | {
            "max_drawdown": math.nan
        }
    mean, std = float(r.mean()), float(r.std(ddof=1))
    curve = np.cumsum(r)
    return {
        "mean": mean,
        "std": std,
        "annualized_return": mean * QLIB_DAYS,
        "information_ratio": mean / std * math.sqrt(QLIB_DAYS) if std > 0 else math.nan,
        "max_drawdown": float(np.min(curve - np.maximum.accumulate(curve))),
    }


def qlib_rows(nav: pl.DataFrame, cnn: dict | None) -> dict:
    """Every strategy's excess return in Qlib's convention, and the CNN's IC family."""
    bench = daily_returns(
        nav.filter(pl.col("strategy") == "benchmark").sort("date")["nav"].to_numpy()
    )
    out: dict = {"convention": CONVENTION, "strategies": {}}
    for (name,), part in nav.sort("date").group_by("strategy", maintain_order=True):
        if name == "benchmark":
            continue
        excess = daily_returns(part["nav"].to_numpy()) - bench
        risk = risk_analysis_sum(excess)
        out["strategies"][str(name)] = {
            "excess_return": risk["annualized_return"],
            "information_ratio": risk["information_ratio"],
            "max_drawdown": risk["max_drawdown"],
        }
    if cnn:
        out["cnn"] = {
            "convention": IC_CONVENTION,
            "ic": cnn.get("mean_ic"),
            "icir": cnn.get("ic_ir"),
            "rank_ic": cnn.get("mean_rank_ic"),
            "rank_icir": cnn.get("rank_ic_ir"),
        }
    return out
