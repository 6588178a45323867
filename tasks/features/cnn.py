"""The CNN's monthly table: 12 monthly and 20 daily returns per (stock, month), z-scored, labelled.

Input contract: the `bars` table (see `tasks/features/panel.py`). Output: the `cnn_features` table
(`schemas/features.py`), one row per eligible (symbol, month t).

Definitions (all from data available after the close of `rebalance_date`, except the target):
* calendar: every date in `bars`; month t's `rebalance_date` is the last calendar date before the
  first calendar date of month t.
* month-end close of month m: the last close in m on a day the stock traded (volume > 0);
  monthly return of m = month-end close of m / month-end close of m-1 - 1, null when either month
  has no traded day (a return across a whole suspended month is not a monthly return).
* daily return on day d = close(d) / close(previous calendar day) - 1, null unless the stock
  traded on both days: a volume-0 row carries a stale price and never yields a fake return.
* features: `mret_13 .. mret_2` = monthly returns of months t-13 .. t-2; `dret_20 .. dret_1` = daily
  returns of the 20 calendar days ending at `rebalance_date` (`dret_1` is that day's);
  `x_00 .. x_31` = the 32 in that order, each z-scored across the month's eligible stocks.
* universe: with a membership table, a stock is a candidate of month t only when it was a member
  on t's `rebalance_date` (others are counted as `not_member`); without one, every stock is.
* eligible: traded on `rebalance_date`, all 20 daily returns known (traded on the 21 calendar days
  ending there), all 12 monthly returns known. Each reason a candidate (a member with a bar in
  the calendar month of `rebalance_date`) is left out is counted in `CnnEligibility`.
* target: month t's monthly return, null when month t is not complete in the data (no later
  calendar date) or the stock did not trade in month t; `label` = 1 when the target is above the
  cross-sectional median of the month's eligible stocks with a known target, else 0; null with it.
* the month after the last calendar month gets a row (the live selection month) when the last
  calendar date ends its month (`CnnFeatureConfig.next_month`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.schemas.features import (
    DAY_LAGS,
    DRET_COLUMNS,
    MONTH_LAGS,
    MRET_COLUMNS,
    N_FEATURES,
    RAW_COLUMNS,
    TABLE_COLUMNS,
    X_COLUMNS,
)
from cnnlstm.tasks.features.panel import Panel, build_panel

__all__ = [
    "DAY_LAGS",
    "DRET_COLUMNS",
    "MONTH_LAGS",
    "MRET_COLUMNS",
    "N_FEATURES",
    "RAW_COLUMNS",
    "TABLE_COLUMNS",
    "X_COLUMNS",
    "CnnFeatureConfig",
    "build_cnn_features",
    "build_cnn_features_counted",
]

log = logging.getLogger(__name__)


class CnnFeatureConfig(BaseModel):
    """How the CNN's monthly table is built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_eligible_stocks: int = Field(
        2, ge=2, description="months with fewer eligible stocks are dropped (and counted)"
    )
    zscore_clip: float | None = Field(
        None, gt=0, description="clip z-scores to +-this value (None: no clipping)"
    )
    next_month: Literal["auto", "always", "never"] = Field(
        "auto",
        description=(
            "add the live month after the last calendar month: 'auto' when the last date is the"
            " last weekday of its month, 'always', or 'never'"
        ),
    )


@dataclass(frozen=True)
class CnnEligibility:
    """Why candidates were or were not given a row, per month and in total."""

    per_month: pl.DataFrame

    def totals(self) -> dict[str, int]:
        """Column sums of `per_month` (candidates, each exclusion reason, eligible)."""
        return {c: int(self.per_month[c].sum()) for c in self.per_month.columns if c != "month"}

    def lines(self) -> list[str]:
        """Human-readable summary."""
        t = self.totals()
        return [f"cnn features: {k}: {v}" for k, v in t.items()]


def _month_end_closes(close: np.ndarray, traded: np.ndarray, month_id: np.ndarray):
    """Month-end close per (stock, month) on a gap-free month axis.

    Returns:
        (first_month_id, me) with me (S, n_months) the last traded close of each month (NaN when
        the stock did not trade in it); column j is month `first_month_id + j`.
    """
    n_s, n_d = close.shape
    col = np.where(traded, np.arange(n_d), -1)  # (S, D)
    last_traded_col = np.maximum.accumulate(col, axis=1)  # (S, D) last traded day up to d
    first, last = int(month_id[0]), int(month_id[-1])
    me = np.full((n_s, last - first + 1), np.nan)
    month_last_col = np.flatnonzero(np.diff(np.append(month_id, month_id[-1] + 1)))  # (months,)
    month_first_col = np.concatenate([[0], month_last_col[:-1] + 1])
    for j0, j1 in zip(month_first_col, month_last_col, strict=True):
        c = last_traded_col[:, j1]
        ok = c >= j0
        me[ok, month_id[j1] - first] = close[ok, c[ok]]
    return first, me


def _zscore_by_group(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Z-score each column of `values` (N, K) within its row's group (population SD; 0 if flat)."""
    count = np.bincount(group, minlength=n_groups).astype(np.float64)[:, None]  # (G, 1)
    safe = np.maximum(count, 1.0)
    sums = np.stack([np.bincount(group, v, n_groups) for v in values.T], axis=1)  # (G, K)
    mean = sums / safe
    centred = values - mean[group]  # (N, K)
    sq = np.stack([np.bincount(group, c * c, n_groups) for c in centred.T], axis=1)  # (G, K)
    sd = np.sqrt(sq / safe)[group]  # (N, K)
    return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 1e-12)


def _is_month_end_weekday(day: np.datetime64) -> bool:
    """True when no weekday (Mon-Fri) follows `day` within its calendar month."""
    next_month = (day.astype("datetime64[M]") + 1).astype("datetime64[D]")
    return not np.busday_count(day + 1, next_month) > 0


@dataclass(frozen=True)
class _FeatureMonths:
    """The months t that get rows, on the panel's day axis.

    Attributes:
        month: (M,) month number of each month t (year * 12 + month - 1).
        rebal_col: (M,) day column of t's rebalance date.
        starts: first day column of each calendar month after the first.
        complete: (M,) month t is complete in the data (its target can be known).
    """

    month: np.ndarray
    rebal_col: np.ndarray
    starts: np.ndarray
    complete: np.ndarray


def _feature_months(
    month_id: np.ndarray, last_day: np.datetime64, cfg: CnnFeatureConfig
) -> _FeatureMonths:
    """Every calendar month but the first, plus maybe the live next month."""
    starts = np.flatnonzero(np.diff(month_id)) + 1  # first column of each later month
    feat_month = month_id[starts]
    rebal_col = starts - 1
    live_next = cfg.next_month == "always" or (
        cfg.next_month == "auto" and _is_month_end_weekday(last_day)
    )
    if live_next:
        feat_month = np.append(feat_month, month_id[-1] + 1)
        rebal_col = np.append(rebal_col, month_id.size - 1)
    # Month t is complete when a later calendar month exists (or the live month follows it).
    complete = (feat_month < month_id[-1]) | (live_next & (feat_month == month_id[-1]))
    return _FeatureMonths(feat_month, rebal_col, starts, complete)


def _lagged_returns(
    close: np.ndarray, traded: np.ndarray, month_id: np.ndarray, months: _FeatureMonths
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 12 monthly and 20 daily returns before each month t, and t's own return.

    Returns:
        (mret (S, M, 12), dret (S, M, 20), target (S, M)), NaN where not known.
    """
    daily = np.full_like(close, np.nan)
    daily[:, 1:] = close[:, 1:] / close[:, :-1] - 1.0  # NaN unless traded on both days
    first_month, me = _month_end_closes(close, traded, month_id)
    monthly = np.full_like(me, np.nan)
    monthly[:, 1:] = me[:, 1:] / me[:, :-1] - 1.0  # (S, months)
    mj = months.month - first_month  # month-axis column of month t
    lag_m = mj[:, None] - np.array(MONTH_LAGS)[None, :]  # (M, 12)
    mret = np.where((lag_m >= 1)[None], monthly[:, np.clip(lag_m, 0, None)], np.nan)
    lag_d = months.rebal_col[:, None] - (np.array(DAY_LAGS)[None, :] - 1)  # (M, 20)
    dret = np.where((lag_d >= 1)[None], daily[:, np.clip(lag_d, 0, None)], np.nan)
    target = np.full((close.shape[0], months.month.size), np.nan)
    known = months.complete & (mj < monthly.shape[1])
    target[:, known] = monthly[:, mj[known]]
    return mret, dret, target


def _eligibility(
    panel: Panel,
    months: _FeatureMonths,
    member: np.ndarray,
    mret: np.ndarray,
    dret: np.ndarray,
    cfg: CnnFeatureConfig,
) -> tuple[np.ndarray, pl.DataFrame]:
    """(S, M) eligible stock-months, and the per-month counts of each reason one is left out."""
    month_first_col = np.concatenate([[0], months.starts])
    bar_in_month = np.logical_or.reduceat(panel.present, month_first_col, axis=1)  # (S, K)
    rebal_col = months.rebal_col
    candidate = bar_in_month[:, np.searchsorted(month_first_col, rebal_col, side="right") - 1]
    not_member = candidate & ~member
    candidate &= member
    on_rebal = panel.traded[:, rebal_col]  # (S, M)
    full_daily = ~np.isnan(dret).any(axis=2)
    full_monthly = ~np.isnan(mret).any(axis=2)
    eligible = candidate & on_rebal & full_daily & full_monthly
    n_elig = eligible.sum(axis=0)
    too_few = n_elig < cfg.min_eligible_stocks
    counts = pl.DataFrame(
        {
            "month": _month_dates(months.month),
            "not_member": not_member.sum(axis=0),
            "candidates": candidate.sum(axis=0),
            "not_traded_on_rebalance": (candidate & ~on_rebal).sum(axis=0),
            "short_daily_history": (candidate & on_rebal & ~full_daily).sum(axis=0),
            "short_monthly_history": (candidate & on_rebal & full_daily & ~full_monthly).sum(0),
            "dropped_small_month": np.where(too_few, n_elig, 0),
            "eligible": np.where(too_few, 0, n_elig),
        }
    )
    return eligible & ~too_few[None, :], counts


def _feature_frame(
    panel: Panel,
    months: _FeatureMonths,
    eligible: np.ndarray,
    lagged: tuple[np.ndarray, np.ndarray, np.ndarray],
    cfg: CnnFeatureConfig,
) -> pl.DataFrame:
    """One row per eligible (stock, month): raw and z-scored returns, target and label."""
    mret, dret, target = lagged
    s_i, m_i = np.nonzero(eligible)  # row per eligible (stock, month)
    raw = np.concatenate([mret[s_i, m_i], dret[s_i, m_i]], axis=1)  # (N, 32)
    z = _zscore_by_group(raw, m_i, months.month.size)
    if cfg.zscore_clip is not None:
        np.clip(z, -cfg.zscore_clip, cfg.zscore_clip, out=z)
    frame = pl.DataFrame(
        {
            "symbol": pl.Series(panel.symbols[s_i], dtype=pl.Utf8),
            "month": _month_dates(months.month[m_i]),
            "rebalance_date": pl.Series(panel.dates[months.rebal_col[m_i]], dtype=pl.Date),
            **{c: raw[:, j] for j, c in enumerate(RAW_COLUMNS)},
            **{c: z[:, j] for j, c in enumerate(X_COLUMNS)},
            "target_return": pl.Series(target[s_i, m_i]).fill_nan(None),
        }
    )
    median = pl.col("target_return").median().over("month")
    frame = frame.with_columns(
        label=pl.when(pl.col("target_return").is_null())
        .then(None)
        .otherwise(pl.col("target_return") > median)
        .cast(pl.Int8),
    )
    return frame.select(TABLE_COLUMNS).sort("month", "symbol")


def build_cnn_features_counted(
    bars: pl.DataFrame, cfg: CnnFeatureConfig, membership: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, CnnEligibility]:
    """Build the `cnn_features` table and the eligibility counts behind it.

    Args:
        bars: the `bars` table.
        cfg: the feature configuration.
        membership: the universe's `membership` table (`schemas/universe.py`): a stock is a
            candidate of month t only when it was a member on t's rebalance date, so z-scores,
            labels' medians and every selection are over that day's members; None: every stock.

    Returns:
        (features, eligibility): features sorted by (month, symbol).
    """
    panel = build_panel(bars, ("close",))
    months = _feature_months(panel.month_id, panel.dates[-1], cfg)
    lagged = _lagged_returns(panel.values["close"], panel.traded, panel.month_id, months)
    member = _members(membership, panel.symbols, panel.dates[months.rebal_col])
    eligible, counts = _eligibility(panel, months, member, lagged[0], lagged[1], cfg)
    frame = _feature_frame(panel, months, eligible, lagged, cfg)
    return frame, CnnEligibility(per_month=counts)


def _members(
    membership: pl.DataFrame | None, symbols: np.ndarray, rebalance: np.ndarray
) -> np.ndarray:
    """(S, M) bool: stock s was a member on month m's rebalance date (all True without a table)."""
    if membership is None:
        return np.ones((len(symbols), len(rebalance)), dtype=bool)
    row = {str(s).upper(): i for i, s in enumerate(symbols)}
    days = np.asarray(rebalance, dtype="datetime64[D]")  # ascending
    out = np.zeros((len(symbols), len(days)), dtype=bool)
    for symbol, start, end in membership.select("symbol", "start", "end").iter_rows():
        s = row.get(symbol)
        if s is None:
            continue
        lo = np.searchsorted(days, np.datetime64(start, "D"), side="left")
        hi = np.searchsorted(days, np.datetime64(end, "D"), side="right")
        out[s, lo:hi] = True
    return out


def _month_dates(month_ids: np.ndarray) -> pl.Series:
    """First calendar day of each month number (year * 12 + month - 1) as a polars Date series."""
    days = (month_ids - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]")
    return pl.Series(days, dtype=pl.Date)


def build_cnn_features(
    bars: pl.DataFrame, cfg: CnnFeatureConfig, membership: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Build the `cnn_features` table (see the module docstring); logs the eligibility counts.

    Args:
        bars: the `bars` table.
        cfg: the feature configuration.
        membership: the universe's membership periods (see `build_cnn_features_counted`).

    Returns:
        One row per eligible (symbol, month), sorted by (month, symbol).
    """
    frame, eligibility = build_cnn_features_counted(bars, cfg, membership)
    for line in eligibility.lines():
        log.info(line)
    return frame
