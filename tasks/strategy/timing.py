"""The paper's LSTM timing rule: a per-stock held-days state machine within each month.

Rule (Liu, Zhang & Ma 2017, Sect. 3), per selected stock and decision day:
  +1 while flat    -> buy, held_days = hold_days (5)
  +1 while holding -> held_days = hold_days
  -1 while flat    -> stay flat
  -1 while holding -> held_days -= 1; sell when it reaches 0
Every position is closed at the month's last trading day; the next month starts flat.

Input contract: the `selection` table (month, symbol, ...), the `signals` table (symbol, date =
decision day d, signal +1/-1; see `schemas/strategy.py`) and the market's trading calendar. A
decision on day d executes at d+1's open (`open` mode) or at d's close (`close` mode), so month
t's decisions are those of its rebalance date (the last trading day before the month) through
its second-to-last day. A buy that would execute on the month's last day is skipped (it would
be closed the same day). A missing signal counts as -1 (no evidence to hold) and is counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import polars as pl

from cnnlstm.core.errors import UserInputError

Execution = Literal["open", "close"]


def held_states(
    signals: Sequence[int], *, hold_days: int = 5, last_buy_step: int | None = None
) -> np.ndarray:
    """Run the held-days state machine over one stock's consecutive decisions.

    Args:
        signals: +1 / -1 per decision step, in time order.
        hold_days: Held days set by a +1.
        last_buy_step: Steps after this index may not open a position (None: all may).

    Returns:
        (len(signals),) bool: whether the stock is held after each step's execution.
    """
    held = np.zeros(len(signals), dtype=bool)
    days_left = 0
    for i, signal in enumerate(signals):
        if signal not in (1, -1):
            raise UserInputError(f"timing signal must be +1 or -1, got {signal!r} at step {i}")
        if signal == 1:
            if days_left > 0 or last_buy_step is None or i <= last_buy_step:
                days_left = hold_days
        elif days_left > 0:
            days_left -= 1
        held[i] = days_left > 0
    return held


@dataclass(frozen=True)
class MonthDays:
    """A month's trading days in the calendar and the rebalance date before them."""

    month: date
    rebalance_date: date | None
    days: list[date]


def month_days(calendar: Sequence[date]) -> dict[date, MonthDays]:
    """Group a sorted trading calendar by month (keyed by the month's first calendar day)."""
    out: dict[date, MonthDays] = {}
    previous: date | None = None
    for day in calendar:
        key = day.replace(day=1)
        if key not in out:
            out[key] = MonthDays(key, previous, [])
        out[key].days.append(day)
        previous = day
    return out


def timing_plan(
    selection: pl.DataFrame,
    signals: pl.DataFrame,
    calendar: Sequence[date],
    *,
    execution: Execution = "open",
    hold_days: int = 5,
) -> tuple[pl.DataFrame, int]:
    """Turn each selected stock's daily signals into its holding at each execution.

    Returns:
        (plan, missing): `plan` has one row per (month, symbol, execution day) with `date` the
        day whose `execution` session trades and `hold` the wanted holding after it (the
        backtest closes everything at the month's last close). `missing` counts decision days
        without a signal (treated as -1).
    """
    months = month_days(calendar)
    dup = signals.filter(pl.struct("symbol", "date").is_duplicated())
    if dup.height:
        raise UserInputError(
            f"signals hold {dup.height} duplicate (symbol, date) rows, e.g. "
            f"{dup.select('symbol', 'date').head(3).rows()}"
        )
    lookup = {(s, d): int(v) for s, d, v in signals.select("symbol", "date", "signal").iter_rows()}
    rows: list[tuple[date, str, date, bool]] = []
    missing = 0
    for month, symbol in selection.select("month", "symbol").iter_rows():
        span = months.get(month)
        if span is None:
            continue
        if span.rebalance_date is None:
            raise UserInputError(
                f"month {month} has no trading day before it in the calendar: "
                "start the calendar at least one day earlier"
            )
        # Decisions on D_0 .. D_{L-1}; open mode executes them at the opens of D_1 .. D_L (no
        # buy at D_L's), close mode at the closes of D_0 .. D_{L-1}; D_L's close ends the month.
        decisions = [span.rebalance_date, *span.days[:-1]]
        steps = []
        for d in decisions:
            value = lookup.get((symbol, d))
            if value is None:
                missing += 1
                value = -1
            steps.append(value)
        last_buy = len(steps) - 2 if execution == "open" else None
        held = held_states(steps, hold_days=hold_days, last_buy_step=last_buy)
        executed_on = span.days if execution == "open" else decisions
        rows += [(month, symbol, day, bool(h)) for day, h in zip(executed_on, held, strict=True)]
    plan = pl.DataFrame(
        rows,
        schema={"month": pl.Date, "symbol": pl.String, "date": pl.Date, "hold": pl.Boolean},
        orient="row",
    )
    return plan, missing
