"""Watching the live model: realized rank IC of a month's CNN scores, the LSTM's hit rate.

Input contract: the month's published CNN `scores` (symbol, score) for every eligible stock, the
`bars` through the month's last session, the LSTM's live `signals` (symbol, date, signal +1/-1)
and the champion's hold days and execution. Pure functions (polars); `flows/monitor.py` reads
the live folder, logs to MLflow and alerts.

* Realized rank IC of month t: Spearman correlation between the scores and each stock's return
  from the rebalance close (the last session before t) to the close of t's last session; stocks
  without both closes are left out and counted.
* LSTM hit rate: the share of decisions whose sign matches the realized label return
  (`tasks.features.lstm.forward_returns`' definition: from the execution price, open of d+1 or
  close of d, to the close `hold_days` sessions after d, on the stock's own trading days); a
  decision whose horizon has not passed, or whose stock did not trade, is left out and counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import polars as pl
from pydantic import BaseModel, ConfigDict


class MonthQuality(BaseModel):
    """The live model's realized quality in one month."""

    model_config = ConfigDict(frozen=True)

    month: date
    rank_ic: float | None
    ic_stocks: int
    ic_left_out: int
    hit_rate: float | None
    decisions: int
    decisions_left_out: int

    @property
    def hit_rate_se(self) -> float | None:
        """Binomial standard error of the hit rate."""
        if self.hit_rate is None or self.decisions == 0:
            return None
        return math.sqrt(self.hit_rate * (1 - self.hit_rate) / self.decisions)


def realized_rank_ic(
    scores: pl.DataFrame, bars: pl.DataFrame, *, rebalance: date, month_last: date
) -> tuple[float | None, int, int]:
    """(rank IC, stocks used, stocks left out) of one month's scores against its returns."""
    start = bars.filter(pl.col("date") == rebalance).select("symbol", c0=pl.col("close"))
    end = bars.filter(pl.col("date") == month_last).select("symbol", c1=pl.col("close"))
    joined = scores.select("symbol", "score").join(start, on="symbol", how="left")
    joined = joined.join(end, on="symbol", how="left").with_columns(
        ret=pl.col("c1") / pl.col("c0") - 1
    )
    used = joined.filter(pl.col("ret").is_finite())
    left_out = joined.height - used.height
    if used.height < 3:
        return None, used.height, left_out
    ic = used.select(pl.corr("score", "ret", method="spearman")).item()
    return (None if ic is None or not math.isfinite(ic) else float(ic)), used.height, left_out


def hit_rate(
    signals: pl.DataFrame, bars: pl.DataFrame, *, hold_days: int, execution: str = "open"
) -> tuple[float | None, int, int]:
    """(hit rate, decisions scored, decisions left out) of the live LSTM signals."""
    traded = bars.filter(pl.col("volume").fill_null(0) > 0).sort("symbol", "date")
    entry = pl.col("open").shift(-1) if execution == "open" else pl.col("close")
    fwd = traded.with_columns(
        fwd=(pl.col("close").shift(-hold_days) / entry - 1).over("symbol")
    ).select("symbol", "date", "fwd")
    joined = signals.select("symbol", "date", "signal").join(fwd, on=["symbol", "date"], how="left")
    scored = joined.filter(pl.col("fwd").is_finite())
    left_out = joined.height - scored.height
    if scored.height == 0:
        return None, 0, left_out
    hits = scored.select(((pl.col("fwd") > 0) == (pl.col("signal") > 0)).mean()).item()
    return float(hits), scored.height, left_out


def below_floor_for(values: Sequence[float | None], floor: float, k: int) -> bool:
    """Whether each of the last `k` values is known and below `floor`."""
    last = list(values)[-k:]
    return len(last) == k and all(v is not None and v < floor for v in last)


def month_quality(
    month: date,
    scores: pl.DataFrame,
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    *,
    rebalance: date,
    month_last: date,
    hold_days: int,
    execution: str,
) -> MonthQuality:
    """Month `month`'s realized rank IC and the hit rate of its decisions (`rebalance` on)."""
    ic, used, ic_out = realized_rank_ic(scores, bars, rebalance=rebalance, month_last=month_last)
    decided = signals.filter((pl.col("date") >= rebalance) & (pl.col("date") < month_last))
    hr, n, hr_out = hit_rate(decided, bars, hold_days=hold_days, execution=execution)
    return MonthQuality(
        month=month, rank_ic=ic, ic_stocks=used, ic_left_out=ic_out,
        hit_rate=hr, decisions=n, decisions_left_out=hr_out,
    )  # fmt: skip


def quality_alerts(
    months: Sequence[MonthQuality], *, rank_ic_floor: float, hit_rate_floor: float, k: int
) -> list[str]:
    """One line per measure that stayed below its floor for the last `k` months."""
    alerts = []
    if below_floor_for([m.rank_ic for m in months], rank_ic_floor, k):
        alerts.append(
            f"realized rank IC below {rank_ic_floor} for {k} months: "
            + ", ".join(f"{m.month:%Y-%m} {m.rank_ic:+.3f}" for m in months[-k:])
        )
    if below_floor_for([m.hit_rate for m in months], hit_rate_floor, k):
        alerts.append(
            f"LSTM hit rate below {hit_rate_floor} for {k} months: "
            + ", ".join(f"{m.month:%Y-%m} {m.hit_rate:.3f}" for m in months[-k:])
        )
    return alerts
