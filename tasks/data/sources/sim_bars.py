"""Turn simulated close paths into the `bars` and `benchmark` tables.

Input contract: the `PricePaths` (T, N), the `Lifecycle`, the `StockParams`, the calendar and a
seeded generator. Output frames follow the contracts in docs/ARCHITECTURE.md.

Intraday prices are built in log space relative to the previous close, inside the +-limit band,
so `low <= open, close <= high` and the limits hold exactly by construction:
* the open takes the move carried from earlier days (a stock that closed pinned at its limit
  gaps on) plus part of the day's fresh return and some noise;
* the high and low stretch beyond open and close by half-normal wicks scaled by the stock's
  conditional volatility, clipped to the band;
* a day whose wanted move overshoots the limit by more than `ONE_PRICE_MARGIN` is a one-price
  day (open = high = low = close at the limit), with very thin volume.
Volume is shares outstanding times a turnover that is persistent per stock, rises with the
size of the day's move and, when planted, with the latent timing drift; it is thin on limit
days. Suspended days with a row carry the previous close in all four prices and volume 0.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cnnlstm.tasks.data.sources.sim_calendar import TradingCalendar
from cnnlstm.tasks.data.sources.sim_config import SimConfig
from cnnlstm.tasks.data.sources.sim_lifecycle import Lifecycle
from cnnlstm.tasks.data.sources.sim_paths import PricePaths, StockParams

BENCHMARK_SYMBOL = "SIM_INDEX"
INDEX_BASE = 1000.0
ONE_PRICE_MARGIN = 0.02
"""Wanted log move beyond the limit that makes the whole day trade at the limit price."""
LOT = 100.0
"""Volumes are whole board lots of 100 shares; a trading day has at least one lot."""
MAX_TURNOVER = 0.5


def symbols_for(n_stocks: int) -> list[str]:
    """Stock codes SIM0001, SIM0002, ... (wider when there are more than 9,999 stocks)."""
    width = max(4, len(str(n_stocks)))
    return [f"SIM{i + 1:0{width}d}" for i in range(n_stocks)]


def _turnover_noise(rng: np.random.Generator, n_days: int, n: int) -> np.ndarray:
    """(T, N) float32 AR(1) noise of log turnover (persistence 0.8, sd 0.35)."""
    phi, sd = 0.8, 0.35
    out = np.empty((n_days, n), dtype=np.float32)
    state = sd * rng.standard_normal(n)
    innov = sd * np.sqrt(1.0 - phi**2)
    for t in range(n_days):
        state = phi * state + innov * rng.standard_normal(n)
        out[t] = state
    return out


def build_bars(
    cfg: SimConfig,
    cal: TradingCalendar,
    life: Lifecycle,
    params: StockParams,
    paths: PricePaths,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """The `bars` table: one row per listed stock-day that is not a missing-row suspension."""
    n_days, n = cal.n_days, cfg.n_stocks
    noise = _turnover_noise(rng, n_days, n)
    # Rows in (symbol, date) order: the (N, T) transpose, read in memory order, is stock-major.
    present = np.ascontiguousarray(life.has_row(n_days).T)  # (N, T)
    stock, day = np.nonzero(present)  # (R,), (R,)
    rows = stock.size
    lo, hi = np.log1p(-cfg.price_limit), np.log1p(cfg.price_limit)

    def at_rows(grid: np.ndarray) -> np.ndarray:
        """The (T, N) grid's values at the rows, in row order (R,)."""
        return np.ascontiguousarray(grid.T)[present]

    wanted = at_rows(paths.wanted)
    carried = at_rows(paths.carried_in)
    halted = at_rows(life.halted)  # only volume-0 suspensions have rows
    vol = at_rows(paths.cond_vol).astype(np.float64)

    # Moves relative to the previous close, in log space, all within [lo, hi].
    close_rel = np.clip(wanted, lo, hi)
    close_rel[halted] = 0.0
    fresh = wanted - carried
    one_up = ~halted & (wanted >= hi + ONE_PRICE_MARGIN)
    one_down = ~halted & (wanted <= lo - ONE_PRICE_MARGIN)
    del wanted
    open_rel = carried + 0.3 * fresh + 0.3 * vol * rng.standard_normal(rows)
    np.clip(open_rel, lo, hi, out=open_rel)
    del carried
    high_rel = np.maximum(open_rel, close_rel)
    high_rel += 0.5 * vol * np.abs(rng.standard_normal(rows))
    np.minimum(high_rel, hi, out=high_rel)
    low_rel = np.minimum(open_rel, close_rel)
    low_rel -= 0.5 * vol * np.abs(rng.standard_normal(rows))
    np.maximum(low_rel, lo, out=low_rel)
    for rel in (open_rel, high_rel, low_rel):
        rel[one_up] = hi
        rel[one_down] = lo
        rel[halted] = 0.0

    pinned = ~halted & ((close_rel == hi) | (close_rel == lo))
    log_turnover = params.base_turnover[stock] + at_rows(noise)
    del noise
    log_turnover += 0.35 * (np.abs(fresh) / vol - 0.8)
    log_turnover += cfg.volume_link * at_rows(paths.drift_z)
    del fresh, vol
    turnover = np.minimum(np.exp(log_turnover), MAX_TURNOVER)
    del log_turnover
    turnover[pinned] *= 0.5
    turnover[one_up | one_down] *= 0.1
    volume = np.maximum(LOT, np.round(params.shares[stock] * turnover / LOT) * LOT)
    del turnover
    volume[halted] = 0.0

    # Prices: the previous close times exp(relative move), computed in place.
    prev = at_rows(paths.log_close) - close_rel
    open_, high, low, close = open_rel, high_rel, low_rel, close_rel
    for rel in (open_, high, low, close):
        rel += prev
        np.exp(rel, out=rel)
    del prev
    amount = (open_ + high + low + close) / 4.0  # a typical price within [low, high]
    amount *= volume

    return pl.DataFrame(
        {
            "symbol": pl.Series("symbol", symbols_for(n), dtype=pl.String).gather(stock),
            "date": pl.Series("date", cal.days[day]).cast(pl.Date),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "amount": amount,
        }
    )


def build_benchmark(
    cal: TradingCalendar, life: Lifecycle, params: StockParams, paths: PricePaths
) -> pl.DataFrame:
    """The cap-weighted index of listed stocks (shares outstanding x close), base 1000.

    Each day's index return is the cap-weighted return of the stocks listed on both that day
    and the day before (a suspended stock counts at its unchanged close); listings and
    delistings enter and leave without moving the index.
    """
    listed = life.listed(cal.n_days)  # (T, N)
    cap = params.shares[None, :] * np.exp(paths.log_close)  # (T, N)
    both = listed[1:] & listed[:-1]  # (T-1, N)
    today = np.where(both, cap[1:], 0.0).sum(axis=1)
    yesterday = np.where(both, cap[:-1], 0.0).sum(axis=1)
    ratio = np.divide(today, yesterday, out=np.ones_like(today), where=yesterday > 0)
    level = INDEX_BASE * np.concatenate([[1.0], np.cumprod(ratio)])
    return pl.DataFrame(
        {
            "symbol": pl.Series("symbol", [BENCHMARK_SYMBOL] * cal.n_days, dtype=pl.String),
            "date": pl.Series("date", cal.days).cast(pl.Date),
            "close": level,
        }
    )
