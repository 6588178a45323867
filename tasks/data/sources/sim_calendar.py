"""The simulated market's trading calendar: weekdays minus a few fixed holiday closures.

Input contract: a start and an end date (inclusive). The calendar is what the simulated exchange
is open on; stocks may still be missing on a trading day (not yet listed, suspended, delisted).
The holidays are fixed month-day closures in the spirit of the A-share calendar (New Year,
Labour Day week, National Day week); lunar holidays are left out so the calendar stays exact and
reproducible without tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

FIXED_HOLIDAYS: tuple[tuple[int, int], ...] = (
    (1, 1),
    (5, 1),
    (5, 2),
    (5, 3),
    (10, 1),
    (10, 2),
    (10, 3),
    (10, 4),
    (10, 5),
)
"""(month, day) closures applied every year when they fall on a weekday."""


@dataclass(frozen=True)
class TradingCalendar:
    """Trading days and the calendar month each belongs to.

    Attributes:
        days: (T,) datetime64[D] trading days, ascending.
        month: (T,) int, the month index of each day, 0 for the first day's month.
        month_lengths: (n_months,) int, trading days in each month index.
    """

    days: np.ndarray
    month: np.ndarray
    month_lengths: np.ndarray

    @property
    def n_days(self) -> int:
        """Number of trading days."""
        return int(self.days.shape[0])

    @property
    def n_months(self) -> int:
        """Number of calendar months spanned."""
        return int(self.month_lengths.shape[0])


def trading_calendar(start: date, end: date) -> TradingCalendar:
    """Weekdays from `start` to `end` inclusive, less the fixed holidays."""
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    months = days.astype("datetime64[M]")
    month_of_year = months.astype(np.int64) % 12 + 1
    day_of_month = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    holiday = np.zeros(days.shape, dtype=bool)
    for m, d in FIXED_HOLIDAYS:
        holiday |= (month_of_year == m) & (day_of_month == d)
    open_days = days[(weekday < 5) & ~holiday]
    month_abs = open_days.astype("datetime64[M]").astype(np.int64)
    month = month_abs - month_abs[0] if open_days.size else month_abs
    n_months = int(month[-1]) + 1 if open_days.size else 0
    month_lengths = np.bincount(month, minlength=n_months)
    return TradingCalendar(days=open_days, month=month, month_lengths=month_lengths)
