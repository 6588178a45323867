"""When each simulated stock trades: listing, delisting and suspension spells.

Input contract: the number of trading days `T`, of stocks `N`, the rates from `SimConfig`, and a
seeded numpy `Generator`. Everything is drawn at once, vectorised over stocks and spells.

A suspension is a spell of consecutive trading days. Most spells leave no rows at all; some are
reported as rows with volume 0 that carry the previous close (how some vendors export a halt).
The listing day itself is never suspended, so every listed stock has a first real price.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

MIN_LIFE_DAYS = 250
"""A delisted stock trades at least this many days (about a year) before it goes."""


@dataclass(frozen=True)
class Lifecycle:
    """Per stock and day, whether the stock exists and whether it trades.

    Attributes:
        first_day: (N,) int, index of the listing day.
        last_day: (N,) int, index of the last listed day (T-1 unless delisted).
        halted: (T, N) bool, suspended on that day (within its listed life).
        zero_volume: (T, N) bool, suspended days reported as a volume-0 row (subset of `halted`).
        n_spells: number of suspension spells drawn.
    """

    first_day: np.ndarray
    last_day: np.ndarray
    halted: np.ndarray
    zero_volume: np.ndarray
    n_spells: int

    def listed(self, n_days: int) -> np.ndarray:
        """(T, N) bool: the stock is listed (trading or suspended) on that day."""
        t = np.arange(n_days)[:, None]  # (T, 1)
        return (t >= self.first_day[None, :]) & (t <= self.last_day[None, :])

    def has_row(self, n_days: int) -> np.ndarray:
        """(T, N) bool: a bars row exists (listed and not a missing-row suspension)."""
        return self.listed(n_days) & (~self.halted | self.zero_volume)


def draw_lifecycle(
    rng: np.random.Generator,
    n_days: int,
    n_stocks: int,
    *,
    listed_at_start: float,
    delisted_fraction: float,
    suspension_rate: float,
    suspension_mean_days: float,
    zero_volume_share: float,
) -> Lifecycle:
    """Draw listing and delisting days and suspension spells for every stock.

    Args:
        rng: The seeded generator (draw order is fixed, so the result is reproducible).
        n_days: Trading days `T`.
        n_stocks: Stocks `N`.
        listed_at_start: Fraction of stocks listed on the first day; the rest list uniformly
            over the first 85% of the span.
        delisted_fraction: Fraction of stocks delisted before the end.
        suspension_rate: Expected suspension spells per listed trading day.
        suspension_mean_days: Mean spell length in trading days (lognormal, heavy right tail).
        zero_volume_share: Share of spells reported as volume-0 rows instead of missing rows.
    """
    late = rng.random(n_stocks) >= listed_at_start
    latest_listing = max(1, int(0.85 * n_days))
    first_day = np.where(late, rng.integers(1, max(2, latest_listing), n_stocks), 0)
    first_day = np.minimum(first_day, n_days - 1)

    delist = rng.random(n_stocks) < delisted_fraction
    earliest_exit = first_day + MIN_LIFE_DAYS
    room = earliest_exit < n_days - 1
    exit_day = earliest_exit + (rng.random(n_stocks) * np.maximum(n_days - 1 - earliest_exit, 0))
    last_day = np.where(delist & room, exit_day.astype(np.int64), n_days - 1)

    life = last_day - first_day  # trading days after the listing day
    n_spells_per = rng.poisson(suspension_rate * np.maximum(life, 0))
    stock = np.repeat(np.arange(n_stocks), n_spells_per)  # (S,)
    n_spells = int(stock.size)
    start = first_day[stock] + 1 + (rng.random(n_spells) * life[stock]).astype(np.int64)
    sigma = 1.0
    mu = np.log(max(suspension_mean_days, 1.0)) - sigma**2 / 2
    length = np.maximum(1, np.rint(rng.lognormal(mu, sigma, n_spells))).astype(np.int64)
    as_zero_volume = rng.random(n_spells) < zero_volume_share

    # Expand spells into (day, stock) cells: offsets 0..length-1 within each spell.
    cell_spell = np.repeat(np.arange(n_spells), length)  # (sum(length),)
    spell_begin = np.cumsum(length) - length
    offset = np.arange(cell_spell.size) - spell_begin[cell_spell]
    cell_day = start[cell_spell] + offset
    cell_stock = stock[cell_spell]
    keep = cell_day <= last_day[cell_stock]
    halted = np.zeros((n_days, n_stocks), dtype=bool)
    halted[cell_day[keep], cell_stock[keep]] = True
    zero_volume = np.zeros((n_days, n_stocks), dtype=bool)
    zv = keep & as_zero_volume[cell_spell]
    zero_volume[cell_day[zv], cell_stock[zv]] = True
    return Lifecycle(
        first_day=first_day,
        last_day=last_day,
        halted=halted,
        zero_volume=zero_volume,
        n_spells=n_spells,
    )


def delist_below_price(
    life: Lifecycle, log_close: np.ndarray, *, price: float, days: int
) -> Lifecycle:
    """Delist each stock on the day it completes `days` listed days in a row closing below `price`.

    Exchanges delist shares that trade below par for weeks; this keeps the simulated market free
    of stocks drifting to a few cents. The stock's last listed day becomes that day.

    Args:
        life: The drawn lifecycle.
        log_close: (T, N) observed log closes.
        price: The price floor (0 disables the rule).
        days: Consecutive listed days below the floor that trigger delisting.
    """
    if price <= 0:
        return life
    n_days, n = log_close.shape
    below = log_close < np.log(price)  # (T, N)
    run = np.zeros(n, dtype=np.int64)
    hit = np.full(n, n_days, dtype=np.int64)
    for t in range(n_days):
        listed = (t >= life.first_day) & (t <= life.last_day)
        run = np.where(below[t] & listed, run + 1, 0)
        hit = np.where((run >= days) & (hit == n_days), t, hit)
    last_day = np.minimum(life.last_day, hit)
    t = np.arange(n_days)[:, None]  # (T, 1)
    inside = t <= last_day[None, :]  # (T, N)
    return replace(
        life,
        last_day=last_day,
        halted=life.halted & inside,
        zero_volume=life.zero_volume & inside,
    )
