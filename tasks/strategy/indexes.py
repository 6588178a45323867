"""Frictionless indexes of the universe and the capital the traded equal-weighted universe needs.

* `monthly_equal_weight_index`: every eligible stock of month t (the `universe` selection) in
  equal value at the rebalance date's close (the last trading day before the month), held
  without costs or lots to the month's last close, then rebalanced: the equal-weighted universe
  at the strategies' monthly frequency, measured close to close (as the independent yardstick
  does). A stock's price is its last traded close (a suspended stock keeps it).
* `equal_weight_capital_needed`: the capital at which the traded equal-weighted universe can
  buy one lot in (nearly) every slot, so a run below it reports the baseline as not tradable.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest.api import MarketArrays, market_arrays
from cnnlstm.tasks.backtest.engine import Rules
from cnnlstm.tasks.strategy.timing import month_days

MONTHLY_EW = "ew_index_monthly"
SLOTS_COVERED = 0.95  # share of a month's slots that must afford one lot


def last_traded_close(market: MarketArrays) -> np.ndarray:
    """(T, N) last traded close at each day (NaN before a stock's first trade)."""
    out = np.where(market.tradable, market.close, np.nan)
    for i in range(1, out.shape[0]):
        gap = np.isnan(out[i])
        out[i, gap] = out[i - 1, gap]
    return out


def _months(market: MarketArrays, universe: pl.DataFrame):
    """(rebalance row, the month's rows, eligible columns) of each universe month on the days."""
    day, stock = market.day_index(), market.stock_index()
    spans = month_days(market.dates)
    for (month,), group in universe.sort("month").group_by("month", maintain_order=True):
        span = spans.get(month)
        if span is None or span.rebalance_date is None:
            continue
        cols = np.array(
            sorted({stock[s] for s in group["symbol"].to_list() if s in stock}), dtype=np.int64
        )
        yield day[span.rebalance_date], np.array([day[d] for d in span.days]), cols


def monthly_equal_weight_index(market: MarketArrays, universe: pl.DataFrame) -> np.ndarray:
    """(T,) value of the monthly-rebalanced equal-weighted universe (1.0 before month one)."""
    close = last_traded_close(market)
    nav = np.ones(len(market.dates))
    level = 1.0
    for start, rows, cols in _months(market, universe):
        base = close[start, cols]
        cols = cols[np.isfinite(base) & (base > 0)]
        if cols.size == 0:
            nav[rows] = level
            continue
        rel = close[np.ix_(rows, cols)] / close[start, cols]
        nav[rows] = level * np.mean(rel, axis=1)
        level = nav[rows[-1]]
    return nav


def monthly_index_nav(bars: pl.DataFrame, universe: pl.DataFrame, dates: list) -> pl.DataFrame:
    """The monthly EW index on `dates` as `nav` rows (`ew_index_monthly`, no costs, held).

    The prices start a month before `dates` so a stock suspended on the first rebalance date
    is valued at its last close before it (as the yardstick does).
    """
    market = market_arrays(bars, start=dates[0] - timedelta(days=31), end=dates[-1])
    nav = monthly_equal_weight_index(market, universe.filter(pl.col("month") > dates[0]))
    first = market.dates.index(dates[0])
    if market.dates[first:] != list(dates):
        raise UserInputError("the index's calendar differs from the backtest's dates")
    return pl.DataFrame(
        {
            "date": list(dates),
            "strategy": MONTHLY_EW,
            "nav": nav[first:],
            "position_ratio": 1.0,
            "cash": 0.0,
            "costs": 0.0,
        }
    )


def equal_weight_capital_needed(
    market: MarketArrays, universe: pl.DataFrame, rules: Rules
) -> float:
    """Capital at which 95% of each month's equal slots afford one lot (max over months).

    One lot costs `lot_min` real shares at the rebalance date's real close (data close /
    factor); a month of k members needs k times the 95th percentile of those costs. Fractional
    shares (lot 0) need one real share.
    """
    close = last_traded_close(market)
    needed = 0.0
    for start, _, cols in _months(market, universe):
        raw = close[start, cols] / rules.factor[start, cols]
        lot = np.where(rules.lot_min[cols] > 0, rules.lot_min[cols], 1.0)
        cost = (raw * lot)[np.isfinite(raw)]
        if cost.size:
            needed = max(needed, cost.size * float(np.quantile(cost, SLOTS_COVERED)))
    return needed
