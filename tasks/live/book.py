"""The paper-trading book's day: yesterday's orders filled against today's bars by the backtest.

Input contract: the stored `bars` through today, every selection the live flows published since
the book's first month (`month`, `symbol`, ...), every LSTM decision they recorded (`symbol`,
`date`, `signal`), the market's rules (`MarketConfig`) and the exchange's sessions left in
today's month. The day is the backtest kernel itself (`tasks.backtest.run_backtest` over
`strategy.strategies.monthly_orders` with the `strategy.timing.timing_plan` of those decisions),
replayed from the book's first rebalance session to today: fills obey the backtest's own rules
(limits, suspension, T+1, lots, costs) because they are the backtest's. The kernel is causal (a
session's trades depend only on what came before and on that session's bars), so today's row
of a replay equals that row of the backtest over the whole period, which the reconciliation
checks for every earlier day the book stored.

Today's month continues after today: the calendar is padded with the month's remaining
sessions (no bars yet, nothing trades there) so the kernel does not take today for the month's
last session; those rows are never read.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest import MarketConfig, market_arrays, run_backtest
from cnnlstm.tasks.backtest.api import MarketArrays
from cnnlstm.tasks.strategy.strategies import monthly_orders
from cnnlstm.tasks.strategy.timing import timing_plan

STRATEGY = "paper"


class BookDay(BaseModel):
    """The book after one session's close (currency amounts, not ratios)."""

    model_config = ConfigDict(frozen=True)

    day: date
    nav: float
    cash: float
    position_value: float
    costs_to_date: float
    pnl: float
    fills: list[dict]
    positions: list[dict]

    @property
    def reconciles(self) -> bool:
        """Cash plus the positions (marked at their last close) is the kernel's NAV (to 1e-6)."""
        return abs(self.cash + self.position_value - self.nav) <= 1e-6 * max(self.nav, 1.0)


def _pad(market: MarketArrays, sessions: list[date]) -> MarketArrays:
    """The market with future sessions appended: no bars, nothing tradable."""
    if not sessions:
        return market
    extra = len(sessions)
    changes: dict[str, object] = {"dates": [*market.dates, *sessions]}
    for f in dataclasses.fields(market):
        value = getattr(market, f.name)
        if (
            isinstance(value, np.ndarray)
            and value.ndim == 2
            and value.shape[0] == len(market.dates)
        ):
            fill = False if value.dtype == bool else (1.0 if f.name == "factor" else np.nan)
            if np.issubdtype(value.dtype, np.integer):
                fill = 0
            pad = np.full((extra, value.shape[1]), fill, dtype=value.dtype)
            changes[f.name] = np.vstack([value, pad])
    return dataclasses.replace(market, **changes)


def replay(
    bars: pl.DataFrame,
    selections: pl.DataFrame,
    decisions: pl.DataFrame,
    cfg: MarketConfig,
    *,
    first_session: date,
    today: date,
    later_sessions: list[date],
    execution: str = "open",
    hold_days: int = 5,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The book's trades, daily values and positions from `first_session` through `today`.

    Args:
        bars: The stored bars through today.
        selections: Every published selection of the book's months (month, symbol, ...).
        decisions: Every recorded LSTM decision (symbol, date, signal).
        cfg: The market's rules and costs (the backtest's).
        first_session: The rebalance session of the book's first month (its first day).
        today: The session just closed.
        later_sessions: The sessions of today's month after today (calendar padding).
        execution: The champion's execution (`open`: decisions trade at the next open).
        hold_days: The champion's hold days.

    Returns:
        (trades, nav, positions) through today; nav/cash/costs in currency.
    """
    if today < first_session:
        raise UserInputError(f"{today} is before the book's first session {first_session}")
    market = _pad(market_arrays(bars, start=first_session, end=today), later_sessions)
    plan, _missing = timing_plan(
        selections, decisions, market.dates, execution=execution, hold_days=hold_days
    )
    orders = monthly_orders(market, STRATEGY, selections, execution=execution, timing=plan)
    result = run_backtest(market, [orders], cfg, record_positions=True)
    capital = cfg.initial_capital
    nav = result.nav.filter(pl.col("date") <= today).with_columns(
        nav=pl.col("nav") * capital, cash=pl.col("cash") * capital, costs=pl.col("costs") * capital
    )
    trades = result.trades.filter(pl.col("date") <= today)
    positions = result.positions_table(STRATEGY).filter(pl.col("date") <= today)
    return trades, nav, positions


def book_day(
    trades: pl.DataFrame,
    nav: pl.DataFrame,
    positions: pl.DataFrame,
    day: date,
    lot_size: int | None,
) -> BookDay:
    """Today's row of a replay: NAV, cash, positions (in lots), fills and the day's P&L."""
    rows = nav.filter(pl.col("date") <= day).sort("date")
    if rows.height == 0 or rows["date"][-1] != day:
        raise UserInputError(f"the replay has no row for {day}")
    last = rows.row(-1, named=True)
    previous = rows["nav"][-2] if rows.height > 1 else last["nav"]
    held = positions.filter(pl.col("date") == day).with_columns(
        lots=(pl.col("shares") / max(lot_size or 1, 1)).floor().cast(pl.Int64)
    )
    fills = trades.filter(pl.col("date") == day).select(
        "symbol", "side", "session", "price", "shares", "cost", "reason"
    )
    return BookDay(
        day=day,
        nav=float(last["nav"]),
        cash=float(last["cash"]),
        position_value=float(held["value"].sum()) if held.height else 0.0,
        costs_to_date=float(last["costs"]),
        pnl=float(last["nav"] - previous),
        fills=fills.to_dicts(),
        positions=held.select("symbol", "shares", "lots", "value").to_dicts(),
    )
