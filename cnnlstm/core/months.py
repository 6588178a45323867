"""Calendar-month arithmetic, in one place: month numbers, month starts and ends, month shifts.

A month number is `year * 12 + month - 1` (January 1970 is 23640), the same numbering the
feature panel uses for its `month_id`. Trading sessions (which days an exchange is open) are a
different question: see `cnnlstm.core.sessions`.
"""

from __future__ import annotations

from datetime import date, timedelta


def month_number(day: date) -> int:
    """The month number of `day`'s month: `year * 12 + month - 1`."""
    return day.year * 12 + day.month - 1


def month_start(number: int) -> date:
    """The first calendar day of month number `number`."""
    return date(number // 12, number % 12 + 1, 1)


def add_months(day: date, months: int) -> date:
    """The first calendar day of the month `months` after `day`'s month (negative: before)."""
    return month_start(month_number(day) + months)


def month_end(day: date) -> date:
    """The last calendar day of `day`'s month."""
    return add_months(day, 1) - timedelta(days=1)


def months_spanned(start: date, end: date) -> int:
    """How many calendar months `start`'s month through `end`'s month cover (both included)."""
    return month_number(end) - month_number(start) + 1


def month_starts(start: date, end: date) -> list[date]:
    """The first day of every month whose first day lies in `start .. end`."""
    first = month_number(start) + (start.day > 1)
    return [month_start(n) for n in range(first, month_number(end) + 1)]
