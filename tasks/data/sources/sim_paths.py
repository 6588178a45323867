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


@dataclass(frozen=True)
class _Dynamics:
    """The daily model's constants, per component (M = 1 + K + N) or per stock (N)."""

    ind: np.ndarray  # (N,) industry index
    idio: slice  # the stocks' components
    phi: float  # timing drift's AR(1) coefficient
    kappa: float  # fading share's daily decay
    fading: float  # timing drift's fading share f
    omega: np.ndarray  # (M,) GARCH constant
    h_cap: np.ndarray  # (M,) GARCH variance cap
    t_scale: float  # unit-variance Student-t
    drift_innov: np.ndarray  # (M,) drift innovation's standard deviation
    drift_norm: np.ndarray  # (N,) 1 / the stock's drift standard deviation (0 if none)
    lo: float  # log of 1 - the price limit
    hi: float  # log of 1 + the price limit
    log_mu: np.ndarray  # (N,) log drift


@dataclass
class _DayState:
    """What one day hands the next: GARCH variances and shocks, drifts, closes, carried moves."""

    h: np.ndarray
    eps: np.ndarray
    drift: np.ndarray
    deviation: np.ndarray
    log_close: np.ndarray
    carry: np.ndarray


def _dynamics(cfg: SimConfig, params: StockParams) -> tuple[_Dynamics, np.ndarray, np.ndarray]:
    """The model's constants, and the components' shock and drift standard deviations."""
    k, ind = cfg.n_industries, params.industry
    idio = slice(1 + k, None)
    phi = 0.5 ** (1.0 / cfg.timing_half_life_days)
    fading = cfg.timing_fading_share
    # The configured volatilities are long-run ones: the timing drift's permanent share adds
    # (1 - f)^2 q^2 (1 + phi) / (1 - phi) of the shock variance per day over long horizons, so
    # shocks and drift are scaled down together (the predictability, a ratio, is unchanged).
    long_run = 1.0 + (1.0 - fading) ** 2 * cfg.timing**2 * (1.0 + phi) / (1.0 - phi)
    # Components: [market, industries..., stocks...]; shape (M,) with M = 1 + K + N.
    vols = np.concatenate([[cfg.market_vol], np.full(k, cfg.industry_vol), params.idio_vol])
    sig = vols / np.sqrt(long_run)
    drift_sd = cfg.timing * sig
    stock_drift_sd = np.sqrt(
        (params.beta * drift_sd[0]) ** 2
        + (params.loading * drift_sd[1 + ind]) ** 2
        + drift_sd[idio] ** 2
    )
    # Ito term: half the stock's long-run daily variance comes off its log drift.
    stock_var = (
        (params.beta * vols[0]) ** 2 + (params.loading * vols[1 + ind]) ** 2 + vols[idio] ** 2
    ) + cfg.jump_rate * cfg.jump_size**2
    dyn = _Dynamics(
        ind=ind,
        idio=idio,
        phi=phi,
        kappa=1.0 - 0.5 ** (1.0 / cfg.timing_fade_half_life_days),
        fading=fading,
        omega=sig**2 * (1.0 - cfg.garch_alpha - cfg.garch_beta),
        h_cap=VARIANCE_CAP * sig**2,
        t_scale=np.sqrt((cfg.tail_df - 2.0) / cfg.tail_df),
        drift_innov=drift_sd * np.sqrt(1.0 - phi**2),
        drift_norm=np.divide(
            1.0, stock_drift_sd, out=np.zeros(cfg.n_stocks), where=stock_drift_sd > 0
        ),
        lo=np.log1p(-cfg.price_limit),
        hi=np.log1p(cfg.price_limit),
        log_mu=np.log1p(cfg.market_drift) / TRADING_DAYS_PER_YEAR - 0.5 * stock_var,
    )
    return dyn, sig, drift_sd


def _fresh_return(
    dyn: _Dynamics,
    state: _DayState,
    cfg: SimConfig,
    params: StockParams,
    tilt_per_day: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Advance the components' GARCH shocks and timing drifts one day; the stocks' fresh return."""
    m_dim, n = state.eps.size, cfg.n_stocks
    h = dyn.omega + cfg.garch_alpha * state.eps**2 + cfg.garch_beta * state.h
    np.minimum(h, dyn.h_cap, out=h)
    state.h = h
    state.eps = np.sqrt(h) * rng.standard_t(cfg.tail_df, m_dim) * dyn.t_scale
    state.drift = dyn.phi * state.drift + dyn.drift_innov * rng.standard_normal(m_dim)
    faded = (1.0 - dyn.kappa) * state.deviation + dyn.fading * state.drift
    comp = state.eps + (1.0 - dyn.fading) * state.drift + (faded - state.deviation)
    state.deviation = faded
    jump = np.where(rng.random(n) < cfg.jump_rate, rng.normal(0.0, cfg.jump_size, n), 0.0)
    return (
        params.beta * comp[0]
        + params.loading * comp[1 + dyn.ind]
        + comp[dyn.idio]
        + jump
        + dyn.log_mu
        + tilt_per_day
    )


def _move(dyn: _Dynamics, state: _DayState, fresh: np.ndarray, halted: np.ndarray) -> np.ndarray:
    """Move the closes within the limits (not at all when halted); the day's wanted move."""
    wanted = state.carry + fresh
    moved = np.clip(wanted, dyn.lo, dyn.hi)
    moved[halted] = 0.0
    state.carry = wanted - moved
    state.log_close = state.log_close + moved
    return wanted


def _drift_and_vol(
    dyn: _Dynamics, state: _DayState, params: StockParams
) -> tuple[np.ndarray, np.ndarray]:
    """The stocks' standardized timing drift and conditional volatility today."""
    drift, h, ind, idio = state.drift, state.h, dyn.ind, dyn.idio
    stock_drift = params.beta * drift[0] + params.loading * drift[1 + ind] + drift[idio]
    vol = np.sqrt(params.beta**2 * h[0] + params.loading**2 * h[1 + ind] + h[idio])
    return stock_drift * dyn.drift_norm, vol


def simulate_paths(
    cfg: SimConfig,
    cal: TradingCalendar,
    life: Lifecycle,
    params: StockParams,
    rng: np.random.Generator,
) -> PricePaths:
    """Run the daily factor model with limits, suspensions and planted effects."""
    n_days, n = cal.n_days, cfg.n_stocks
    dyn, sig, drift_sd = _dynamics(cfg, params)
    state = _DayState(
        h=sig**2,
        eps=np.zeros(sig.size),
        drift=drift_sd * rng.standard_normal(sig.size),  # stationary start
        deviation=np.zeros(sig.size),
        log_close=params.log_listing_price.copy(),
        carry=np.zeros(n),
    )
    tilt_per_day = np.zeros(n)
    month_end = np.zeros((cal.n_months, n))
    listing_month = cal.month[life.first_day]  # (N,)
    out = PricePaths(
        log_close=np.empty((n_days, n)),
        wanted=np.empty((n_days, n)),
        carried_in=np.empty((n_days, n)),
        drift_z=np.empty((n_days, n), dtype=np.float32),
        cond_vol=np.empty((n_days, n), dtype=np.float32),
    )
    for t in range(n_days):
        m = int(cal.month[t])
        if t > 0 and m != cal.month[t - 1]:
            month_end[m - 1] = state.log_close
            tilt_per_day = monthly_tilt(month_end, m, cfg, listing_month) / cal.month_lengths[m]
        fresh = _fresh_return(dyn, state, cfg, params, tilt_per_day, rng)
        out.carried_in[t] = state.carry
        out.wanted[t] = _move(dyn, state, fresh, life.halted[t])
        out.log_close[t] = state.log_close
        out.drift_z[t], out.cond_vol[t] = _drift_and_vol(dyn, state, params)

    # A later listing starts from its IPO price: shift its whole path (returns are unchanged).
    late = np.nonzero(life.first_day > 0)[0]
    offset = params.log_listing_price[late] - out.log_close[life.first_day[late] - 1, late]
    out.log_close[:, late] += offset[None, :]  # (T, L)
    return out
