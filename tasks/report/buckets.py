"""Score buckets out of sample (alphalens-style): where a ranker's skill lives.

Input contract: the CNN's scored test months (`month`, `symbol`, `score`, `target_return` =
month t's realized return, known only after it) with its selection, and the LSTM signals'
realized outcomes (`prob_up`, `fwd_return` over the hold days; `metrics.signal_outcomes`).

CNN: each month's scored stocks are cut into 10 equal-count deciles by score (1 = lowest); a
decile's number is the mean over months of its stocks' mean forward monthly return (equal
weights, no costs). The top-minus-bottom spread is decile 10 minus decile 1 per month, with its
Newey-West t over months; monotonicity is the Spearman correlation of decile number and decile
mean (1 = returns rise decile by decile). The CNN's own selection (top 1%) is shown beside.
LSTM: the signals' probability of "up" in 5 equal-count buckets, each with the mean realized
return over the hold days and the share that went up.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from cnnlstm.core.frames import group_mean
from cnnlstm.tasks.report.stats import newey_west_t

N_DECILES, N_PROB_BUCKETS = 10, 5


def _bucketed(frame: pl.DataFrame, column: str, n: int, over: str | None) -> pl.DataFrame:
    """`frame` with `bucket` 1..n by equal-count ranks of `column` (within `over` if given)."""
    rank = pl.col(column).rank("ordinal")
    size = pl.len()
    if over is not None:
        rank, size = rank.over(over), size.over(over)
    return frame.with_columns(bucket=((rank - 1) * n // size + 1).cast(pl.Int64))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return math.nan
    rx = pl.Series(x[ok]).rank().to_numpy()
    ry = pl.Series(y[ok]).rank().to_numpy()
    return float(np.corrcoef(rx, ry)[0, 1])


def score_deciles(scored: pl.DataFrame | None, selection: pl.DataFrame | None) -> dict | None:
    """The CNN's decile table, top-minus-bottom spread (NW t) and monotonicity (None: no data)."""
    if scored is None:
        return None
    known = scored.filter(pl.col("target_return").is_not_null() & pl.col("score").is_finite())
    known = known.filter(pl.len().over("month") >= N_DECILES)
    if known.height == 0:
        return None
    bucketed = _bucketed(known, "score", N_DECILES, "month")
    monthly = group_mean(bucketed, ["month", "bucket"], {"ret": "target_return"})
    wide = monthly.pivot(on="bucket", index="month", values="ret").sort("month")
    table = {}
    for b in range(1, N_DECILES + 1):
        col = wide[str(b)].drop_nulls().to_numpy()
        nw = newey_west_t(col)
        table[str(b)] = {"mean": nw["mean"], "t": nw["t"], "months": nw["n"]}
    spread = newey_west_t((wide[str(N_DECILES)] - wide["1"]).drop_nulls().to_numpy())
    means = np.array([table[str(b)]["mean"] for b in range(1, N_DECILES + 1)])
    out = {
        "convention": "equal-weighted mean forward monthly return of each score decile, "
        "averaged over months, no costs",
        "deciles": table,
        "top_minus_bottom": spread["mean"],
        "top_minus_bottom_t": spread["t"],
        "monotonicity_spearman": _spearman(np.arange(1, N_DECILES + 1.0), means),
        "months": wide.height,
    }
    if selection is not None:
        picked = known.join(selection.select("month", "symbol"), on=["month", "symbol"])
        # months in order (group_mean sorts by its keys): the Newey-West t weighs
        # autocovariances of consecutive months
        per_month = group_mean(picked, "month", {"ret": "target_return"})
        nw = newey_west_t(per_month["ret"].to_numpy())
        out["selected"] = {"mean": nw["mean"], "t": nw["t"], "months": nw["n"]}
    return out


def probability_buckets(outcomes: pl.DataFrame | None) -> dict | None:
    """The LSTM's realized return by bucket of its probability of "up" (None: no data)."""
    if outcomes is None or "prob_up" not in outcomes.columns:
        return None
    known = outcomes.filter(pl.col("fwd_return").is_not_null() & pl.col("prob_up").is_finite())
    if known.height < N_PROB_BUCKETS:
        return None
    bucketed = _bucketed(known, "prob_up", N_PROB_BUCKETS, None)
    means = group_mean(
        bucketed,
        "bucket",
        {"mean_return": "fwd_return", "share_up": (pl.col("fwd_return") > 0).cast(pl.Float64)},
    )
    rows = (
        bucketed.group_by("bucket")
        .agg(prob_low=pl.col("prob_up").min(), prob_high=pl.col("prob_up").max(), n=pl.len())
        .join(means, on="bucket")
        .sort("bucket")
        .select("bucket", "prob_low", "prob_high", "mean_return", "share_up", "n")
    )
    means = rows["mean_return"].to_numpy()
    return {
        "convention": "mean realized return over the hold days from the execution price, by "
        "equal-count bucket of the LSTM's probability of up (all signals, out of sample)",
        "buckets": {str(r.pop("bucket")): r for r in rows.iter_rows(named=True)},
        "monotonicity_spearman": _spearman(np.arange(1, len(means) + 1.0), means),
    }
