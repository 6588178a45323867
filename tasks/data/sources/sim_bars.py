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


def _at_rows(grid: np.ndarray, present: np.ndarray) -> np.ndarray:
    """A (T, N) grid's values at the rows (`present`, (N, T)), in row order (R,)."""
    return np.ascontiguousarray(grid.T)[present]


def _intraday_moves(
    cfg: SimConfig,
    wanted: np.ndarray,
    carried: np.ndarray,
    halted: np.ndarray,
    vol: np.ndarray,
    rng: np.random.Generator,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Open, high, low and close as log moves from the previous close, all within the band.

    Returns:
        ([open, high, low, close] (R,) each, one_price): the moves, and the rows of one-price
        days (the whole day at the limit).
    """
    lo, hi = np.log1p(-cfg.price_limit), np.log1p(cfg.price_limit)
    close_rel = np.clip(wanted, lo, hi)
    close_rel[halted] = 0.0
    one_up = ~halted & (wanted >= hi + ONE_PRICE_MARGIN)
    one_down = ~halted & (wanted <= lo - ONE_PRICE_MARGIN)
    open_rel = carried + 0.3 * (wanted - carried) + 0.3 * vol * rng.standard_normal(wanted.size)
    np.clip(open_rel, lo, hi, out=open_rel)
    high_rel = np.maximum(open_rel, close_rel)
    high_rel += 0.5 * vol * np.abs(rng.standard_normal(wanted.size))
    np.minimum(high_rel, hi, out=high_rel)
    low_rel = np.minimum(open_rel, close_rel)
    low_rel -= 0.5 * vol * np.abs(rng.standard_normal(wanted.size))
    np.maximum(low_rel, lo, out=low_rel)
    for rel in (open_rel, high_rel, low_rel):
        rel[one_up] = hi
        rel[one_down] = lo
        rel[halted] = 0.0
    return [open_rel, high_rel, low_rel, close_rel], one_up | one_down


def _volume(
    cfg: SimConfig,
    shares: np.ndarray,
    log_turnover: np.ndarray,
    fresh: np.ndarray,
    vol: np.ndarray,
    drift_z: np.ndarray,
    thin: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Whole lots of the rows' shares (R,): turnover from size, move, timing drift and limits.

    Args:
        cfg: Supplies the volume's link to the timing drift.
        shares: (R,) the row's stock's shares outstanding.
        log_turnover: (R,) the stock's base log turnover plus its persistent noise (consumed).
        fresh: (R,) the day's fresh log return (wanted less carried-in move).
        vol: (R,) the stock's conditional daily volatility.
        drift_z: (R,) the standardized timing drift.
        thin: (halted, pinned at the limit, one-price day) row masks.
    """
    halted, pinned, one_price = thin
    log_turnover += 0.35 * (np.abs(fresh) / vol - 0.8)
    log_turnover += cfg.volume_link * drift_z
    turnover = np.minimum(np.exp(log_turnover), MAX_TURNOVER)
    turnover[pinned] *= 0.5
    turnover[one_price] *= 0.1
    volume = np.maximum(LOT, np.round(shares * turnover / LOT) * LOT)
    volume[halted] = 0.0
    return volume


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
    wanted = _at_rows(paths.wanted, present)
    carried = _at_rows(paths.carried_in, present)
    halted = _at_rows(life.halted, present)  # only volume-0 suspensions have rows
    vol = _at_rows(paths.cond_vol, present).astype(np.float64)
    rel, one_price = _intraday_moves(cfg, wanted, carried, halted, vol, rng)
    close_rel = rel[3]
    lo, hi = np.log1p(-cfg.price_limit), np.log1p(cfg.price_limit)
    pinned = ~halted & ((close_rel == hi) | (close_rel == lo))
    volume = _volume(
        cfg,
        params.shares[stock],
        params.base_turnover[stock] + _at_rows(noise, present),
        wanted - carried,
        vol,
        _at_rows(paths.drift_z, present),
        (halted, pinned, one_price),
    )
    del noise, wanted, carried, vol
    # Prices: the previous close times exp(relative move), computed in place.
    prev = _at_rows(paths.log_close, present) - close_rel
    for move in rel:
        move += prev
        np.exp(move, out=move)
    open_, high, low, close = rel
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
