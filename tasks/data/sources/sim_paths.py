"""Daily close-to-close price paths of the simulated market, one vectorised step per day.

Input contract: a `SimConfig`, its `TradingCalendar`, the stocks' `Lifecycle` and a seeded numpy
`Generator`. The loop runs over days; every step is numpy over all stocks at once.

A stock's daily log return is a factor model

    r = beta * (market shock + market timing) + loading * (industry shock + industry timing)
        + (idiosyncratic shock + idiosyncratic timing) + jump + log drift + monthly tilt

* Shocks are standardized Student-t draws scaled by a GARCH(1,1) volatility per component
  (market, each industry, each stock): fat tails and volatility clustering. Rare idiosyncratic
  news jumps (normal, several percent) add the large moves that run into the price limits.
* Timing is the planted short-horizon component, per component: a latent AR(1) drift `d` (the
  configured half-life, standard deviation `timing` times the component's volatility). A share
  `1 - f` of it moves the price for good; the share `f` builds a deviation `x` that fades
  (`x <- (1 - kappa) * x + f * d`, the day's move being the change of `x`). The next few days
  continue the recent move, so the sign of the next 5 days' return is predictable from recent
  prices, and from volume, which responds to `d`. The fading share is tuned so that the timing
  component leaves month-to-month return correlations close to zero: a purely persistent drift
  carries across month ends and adds a monthly continuation that masks the planted reversal,
  a purely fading one adds a monthly reversal of its own.
* The monthly tilt is the planted momentum and reversal: at the start of month t each stock's
  expected return for the month is `momentum * z(return over months t-12..t-2)
  - reversal * z(return of month t-1)`, z-scored across stocks from observed month-end closes,
  spread evenly over the month's trading days.
* The log drift makes every stock's expected simple return `market_drift` a year (it takes half
  the stock's daily shock variance off).

Price limits and suspensions act on the observed close: a move beyond the +-limit closes at the
limit and the rest is carried into the next trading day (as an A-share stock keeps hitting its
limit after big news); a suspended stock's close stays put while its moves accumulate, to be
released on resumption.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlstm.tasks.data.sources.sim_calendar import TradingCalendar
from cnnlstm.tasks.data.sources.sim_config import SimConfig
from cnnlstm.tasks.data.sources.sim_lifecycle import Lifecycle

TRADING_DAYS_PER_YEAR = 252
VARIANCE_CAP = 25.0
"""A component's GARCH variance is capped at this multiple of its unconditional variance."""


@dataclass(frozen=True)
class StockParams:
    """Fixed per-stock parameters.

    Attributes:
        beta: (N,) market beta.
        industry: (N,) int industry index.
        loading: (N,) industry loading.
        idio_vol: (N,) unconditional idiosyncratic daily volatility.
        shares: (N,) shares outstanding.
        log_listing_price: (N,) log close before the listing day: the opening level of a stock
            listed from the first day, the IPO price level of a later listing.
        base_turnover: (N,) log of the typical daily turnover (volume / shares).
    """

    beta: np.ndarray
    industry: np.ndarray
    loading: np.ndarray
    idio_vol: np.ndarray
    shares: np.ndarray
    log_listing_price: np.ndarray
    base_turnover: np.ndarray


@dataclass(frozen=True)
class PricePaths:
    """Simulated daily paths, all (T, N).

    Attributes:
        log_close: Observed log close (unchanged on suspended days).
        wanted: The day's wanted log move: carried-in move plus the day's fresh return.
        carried_in: The part of `wanted` carried from earlier limit hits and suspensions.
        drift_z: The stock's latent timing drift `d` in units of its standard deviation
            (float32); volume responds to it.
        cond_vol: The stock's conditional daily volatility (float32).
    """

    log_close: np.ndarray
    wanted: np.ndarray
    carried_in: np.ndarray
    drift_z: np.ndarray
    cond_vol: np.ndarray


def draw_stock_params(cfg: SimConfig, rng: np.random.Generator) -> StockParams:
    """Draw each stock's betas, industry, volatility, size and starting price."""
    n = cfg.n_stocks
    return StockParams(
        beta=np.clip(rng.normal(1.0, 0.25, n), 0.3, 1.8),
        industry=rng.integers(0, cfg.n_industries, n),
        loading=rng.uniform(0.5, 1.5, n),
        idio_vol=rng.uniform(cfg.idio_vol_min, cfg.idio_vol_max, n),
        shares=np.round(np.exp(rng.normal(np.log(5e8), 0.6, n)), -4),
        log_listing_price=rng.normal(np.log(12.0), 0.5, n),
        base_turnover=rng.normal(np.log(0.015), 0.5, n),
    )


def _zscore(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Z-score of `x` across the stocks in `mask`, clipped at +-3 (0 elsewhere or if flat)."""
    out = np.zeros_like(x)
    if mask.sum() < 2:
        return out
    sd = x[mask].std()
    if np.isfinite(sd) and sd > 0:
        out[mask] = np.clip((x[mask] - x[mask].mean()) / sd, -3.0, 3.0)
    return out


def monthly_tilt(
    month_end_log_close: np.ndarray,
    m: int,
    cfg: SimConfig,
    listing_month: np.ndarray | None = None,
) -> np.ndarray:
    """Expected log return of month `m` per stock from month-end closes of months < m.

    A stock's signal counts only once its whole window is observable: listed by the end of month
    m-13 for momentum, by the end of month m-2 for reversal (its tilt is 0 before); the z-scores
    are taken across the stocks that qualify.

    Args:
        month_end_log_close: (n_months, N) observed log close at each month's last trading day;
            only rows < m are read.
        m: The month index about to start.
        cfg: Supplies the momentum and reversal strengths in force.
        listing_month: (N,) month index of each stock's listing day; None: all listed from 0.
    """
    n = month_end_log_close.shape[1]
    listed = np.zeros(n, dtype=np.int64) if listing_month is None else listing_month
    tilt = np.zeros(n)
    if m >= 2 and cfg.reversal > 0:
        last_month = month_end_log_close[m - 1] - month_end_log_close[m - 2]
        tilt -= cfg.reversal * _zscore(last_month, listed <= m - 2)
    if m >= 13 and cfg.momentum > 0:
        twelve_one = month_end_log_close[m - 2] - month_end_log_close[m - 13]
        tilt += cfg.momentum * _zscore(twelve_one, listed <= m - 13)
    return tilt


def simulate_paths(
    cfg: SimConfig,
    cal: TradingCalendar,
    life: Lifecycle,
    params: StockParams,
    rng: np.random.Generator,
) -> PricePaths:
    """Run the daily factor model with limits, suspensions and planted effects."""
    n_days, n, k = cal.n_days, cfg.n_stocks, cfg.n_industries
    ind = params.industry
    idio = slice(1 + k, None)
    phi = 0.5 ** (1.0 / cfg.timing_half_life_days)
    kappa = 1.0 - 0.5 ** (1.0 / cfg.timing_fade_half_life_days)
    fading = cfg.timing_fading_share
    # The configured volatilities are long-run ones: the timing drift's permanent share adds
    # (1 - f)^2 q^2 (1 + phi) / (1 - phi) of the shock variance per day over long horizons, so
    # shocks and drift are scaled down together (the predictability, a ratio, is unchanged).
    long_run = 1.0 + (1.0 - fading) ** 2 * cfg.timing**2 * (1.0 + phi) / (1.0 - phi)
    # Components: [market, industries..., stocks...]; shape (M,) with M = 1 + K + N.
    vols = np.concatenate([[cfg.market_vol], np.full(k, cfg.industry_vol), params.idio_vol])
    sig = vols / np.sqrt(long_run)
    m_dim = sig.size
    omega = sig**2 * (1.0 - cfg.garch_alpha - cfg.garch_beta)
    h_cap = VARIANCE_CAP * sig**2
    t_scale = np.sqrt((cfg.tail_df - 2.0) / cfg.tail_df)  # unit-variance Student-t

    drift_sd = cfg.timing * sig
    drift_innov = drift_sd * np.sqrt(1.0 - phi**2)
    stock_drift_sd = np.sqrt(
        (params.beta * drift_sd[0]) ** 2
        + (params.loading * drift_sd[1 + ind]) ** 2
        + drift_sd[idio] ** 2
    )
    drift_norm = np.divide(1.0, stock_drift_sd, out=np.zeros(n), where=stock_drift_sd > 0)

    lo, hi = np.log1p(-cfg.price_limit), np.log1p(cfg.price_limit)
    # Ito term: half the stock's long-run daily variance comes off its log drift.
    stock_var = (
        (params.beta * vols[0]) ** 2 + (params.loading * vols[1 + ind]) ** 2 + vols[idio] ** 2
    ) + cfg.jump_rate * cfg.jump_size**2
    log_mu = np.log1p(cfg.market_drift) / TRADING_DAYS_PER_YEAR - 0.5 * stock_var

    h = sig**2
    eps = np.zeros(m_dim)
    drift = drift_sd * rng.standard_normal(m_dim)  # stationary start
    deviation = np.zeros(m_dim)
    log_close = params.log_listing_price.copy()
    carry = np.zeros(n)
    tilt_per_day = np.zeros(n)
    month_end = np.zeros((cal.n_months, n))
    listing_month = cal.month[life.first_day]  # (N,)

    out_close = np.empty((n_days, n))
    out_wanted = np.empty((n_days, n))
    out_carry = np.empty((n_days, n))
    out_drift = np.empty((n_days, n), dtype=np.float32)
    out_vol = np.empty((n_days, n), dtype=np.float32)

    for t in range(n_days):
        m = int(cal.month[t])
        if t > 0 and m != cal.month[t - 1]:
            month_end[m - 1] = log_close
            tilt_per_day = monthly_tilt(month_end, m, cfg, listing_month) / cal.month_lengths[m]

        h = omega + cfg.garch_alpha * eps**2 + cfg.garch_beta * h
        np.minimum(h, h_cap, out=h)
        eps = np.sqrt(h) * rng.standard_t(cfg.tail_df, m_dim) * t_scale
        drift = phi * drift + drift_innov * rng.standard_normal(m_dim)
        faded = (1.0 - kappa) * deviation + fading * drift
        comp = eps + (1.0 - fading) * drift + (faded - deviation)
        deviation = faded
        jump = np.where(rng.random(n) < cfg.jump_rate, rng.normal(0.0, cfg.jump_size, n), 0.0)
        fresh = (
            params.beta * comp[0]
            + params.loading * comp[1 + ind]
            + comp[idio]
            + jump
            + log_mu
            + tilt_per_day
        )

        carried_in = carry
        wanted = carried_in + fresh
        moved = np.clip(wanted, lo, hi)
        moved[life.halted[t]] = 0.0
        carry = wanted - moved
        log_close = log_close + moved

        out_close[t] = log_close
        out_wanted[t] = wanted
        out_carry[t] = carried_in
        stock_drift = params.beta * drift[0] + params.loading * drift[1 + ind] + drift[idio]
        out_drift[t] = stock_drift * drift_norm
        out_vol[t] = np.sqrt(params.beta**2 * h[0] + params.loading**2 * h[1 + ind] + h[idio])

    # A later listing starts from its IPO price: shift its whole path (returns are unchanged).
    late = np.nonzero(life.first_day > 0)[0]
    offset = params.log_listing_price[late] - out_close[life.first_day[late] - 1, late]
    out_close[:, late] += offset[None, :]  # (T, L)

    return PricePaths(
        log_close=out_close,
        wanted=out_wanted,
        carried_in=out_carry,
        drift_z=out_drift,
        cond_vol=out_vol,
    )
