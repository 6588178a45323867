"""One strategy's orders: each month's selected stocks held in equal slots, optionally timed.

Input contract: `MarketArrays` of the test period, a selection table (month, symbol) and, for a
timed strategy, a `strategy.timing.timing_plan`. Month t's selection executes at its first day's
open (`open`) or at its rebalance date's close (`close`); everything is closed at the month's
last close. `StrategySet` holds the inputs every strategy of a run draws from (the registry,
`tasks/strategy/registry.py`, says which strategy uses which).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest.api import NO_INSTRUCTION, MarketArrays, StrategyOrders
from cnnlstm.tasks.backtest.engine import SESSION_CLOSE, SESSION_OPEN
from cnnlstm.tasks.strategy.timing import Execution, month_days


@dataclass(frozen=True)
class StrategySet:
    """The inputs of one comparison: selections per strategy and the timing signals."""

    universe: pl.DataFrame  # every eligible (month, symbol)
    momentum: pl.DataFrame | None = None  # selection
    cnn: pl.DataFrame | None = None  # selection
    signals: pl.DataFrame | None = None  # LSTM signals for CNN-LSTM


def monthly_orders(
    market: MarketArrays,
    name: str,
    selection: pl.DataFrame,
    *,
    execution: Execution = "open",
    timing: pl.DataFrame | None = None,
) -> StrategyOrders:
    """Orders that hold each month's selected stocks in equal slots, optionally timed.

    Args:
        market: The calendar and universe of the backtest.
        name: The strategy's name in the results.
        selection: (month, symbol) rows; months outside the calendar are ignored.
        execution: "open" or "close" (see the module docstring).
        timing: A `strategy.timing.timing_plan` (month, symbol, date, hold) replacing "hold all
            month" for the selected stocks.

    Raises:
        UserInputError: a selected symbol has no bars, or `close` execution lacks the day
            before a month.
    """
    stock = market.stock_index()
    unknown = set(selection["symbol"].unique().to_list()) - set(stock)
    if unknown:
        raise UserInputError(f"{name}: selected symbols without bars: {sorted(unknown)[:5]}")
    day = market.day_index()
    shape = market.close.shape
    session = SESSION_OPEN if execution == "open" else SESSION_CLOSE
    instr = np.zeros(shape, dtype=np.int8)  # the trading session: flat unless told otherwise
    idle = np.full(shape, NO_INSTRUCTION, dtype=np.int8)
    if execution == "open":
        idle[market.month_end, :] = 0  # month-end close of the open-mode positions
    plan = _plan_lookup(timing)
    alloc_day, members = [], []
    spans = month_days(market.dates)
    for month, group in selection.group_by("month", maintain_order=True):
        span = spans.get(month[0])
        if span is None:
            continue
        if execution == "close" and span.rebalance_date is None:
            raise UserInputError(
                f"{name}: month {month[0]} has no trading day before it to execute at its close"
            )
        exec_days = span.days if execution == "open" else [span.rebalance_date, *span.days[:-1]]
        rows = [day[d] for d in exec_days]
        cols = np.array([stock[s] for s in group["symbol"].to_list()], dtype=np.int64)
        if plan is None:
            instr[np.ix_(rows, cols)] = 1
        else:
            for j, symbol in zip(cols, group["symbol"].to_list(), strict=True):
                held = plan.get((month[0], symbol), {})
                instr[rows, j] = [1 if held.get(d, False) else 0 for d in exec_days]
        mask = np.zeros(shape[1], dtype=bool)
        mask[cols] = True
        alloc_day.append(rows[0])
        members.append(mask)
    order = np.argsort(alloc_day, kind="stable")
    return StrategyOrders(
        name=name,
        instr_open=instr if execution == "open" else idle,
        instr_close=idle if execution == "open" else instr,
        alloc_day=np.asarray(alloc_day, dtype=np.int64)[order],
        alloc_session=np.full(len(alloc_day), session, dtype=np.int8),
        members=np.asarray(members, dtype=bool).reshape(len(alloc_day), shape[1])[order],
    )


def _plan_lookup(timing: pl.DataFrame | None) -> dict[tuple[date, str], dict[date, bool]] | None:
    """(month, symbol) -> {execution day: hold}."""
    if timing is None:
        return None
    out: dict[tuple[date, str], dict[date, bool]] = {}
    for month, symbol, day, hold in timing.select("month", "symbol", "date", "hold").iter_rows():
        out.setdefault((month, symbol), {})[day] = hold
    return out
