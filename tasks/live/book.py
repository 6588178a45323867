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
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest import MarketConfig, market_arrays, run_backtest
from cnnlstm.tasks.backtest.api import BacktestResult, MarketArrays
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


def _pad(market: MarketArrays, sessions: list[date], *, reference: bool = False) -> MarketArrays:
    """The market with future sessions appended: no bars, nothing tradable.

    With `reference`, the first appended session trades at the last day's close (open = close =
    that close, same factor, amount and tradability): the kernel's preview of the next session's
    orders, sized at the price an order placed after today's close refers to.
    """
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
            if reference and len(market.dates):
                pad[0] = value[-1] if f.name != "open" else market.close[-1]
                if f.name == "session_no":
                    pad[0] = value[-1] + 1
            changes[f.name] = np.vstack([value, pad])
    return dataclasses.replace(market, **changes)


@dataclass(frozen=True)
class Replay:
    """The kernel's book through today, in the data's units and in real shares and prices.

    `trades` and `positions` carry real (unadjusted) `shares` and `price`, as an order is
    executed; `nav`, `cash` and `costs` (the day's) are currency; `planned` is the kernel's
    preview of the next session's trades (`preview=True`), in real shares.
    """

    trades: pl.DataFrame
    nav: pl.DataFrame
    positions: pl.DataFrame
    planned: pl.DataFrame | None = None


def _real_trades(trades: pl.DataFrame) -> pl.DataFrame:
    """The kernel's trades in real shares at real prices (the data's units dropped)."""
    return trades.with_columns(price=pl.col("raw_price"), shares=pl.col("raw_shares")).drop(
        "raw_price", "raw_shares"
    )


def _real_positions(result: BacktestResult, market: MarketArrays) -> pl.DataFrame:
    """Daily holdings in real shares (the data's shares times the day's factor)."""
    held = result.positions_table(STRATEGY)
    if market.factor is None or held.height == 0:
        return held
    day = market.day_index()
    stock = market.stock_index()
    rows = [day[d] for d in held["date"].to_list()]
    cols = [stock[s] for s in held["symbol"].to_list()]
    factor = market.factor[rows, cols]
    return held.with_columns(shares=pl.col("shares") * pl.Series(factor, dtype=pl.Float64))


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
    preview: bool = False,
) -> Replay:
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
        preview: `later_sessions[0]` is the next session: the kernel's trades there, at
            today's close, size the next orders (`Replay.planned`).

    Returns:
        The `Replay` through today.
    """
    if today < first_session:
        raise UserInputError(f"{today} is before the book's first session {first_session}")
    market = _pad(
        market_arrays(bars, start=first_session, end=today), later_sessions, reference=preview
    )
    plan, _missing = timing_plan(
        selections, decisions, market.dates, execution=execution, hold_days=hold_days
    )
    orders = monthly_orders(market, STRATEGY, selections, execution=execution, timing=plan)
    result = run_backtest(market, [orders], cfg, record_positions=True)
    capital = cfg.initial_capital
    nav = result.nav.filter(pl.col("date") <= today).with_columns(
        nav=pl.col("nav") * capital, cash=pl.col("cash") * capital, costs=pl.col("costs") * capital
    )
    trades = _real_trades(result.trades)
    planned = None
    if preview and later_sessions:
        planned = trades.filter(pl.col("date") == later_sessions[0])
    positions = _real_positions(result, market).filter(pl.col("date") <= today)
    return Replay(trades.filter(pl.col("date") <= today), nav, positions, planned)


def book_day(run: Replay, day: date, lot_size: int | None) -> BookDay:
    """Today's row of a replay: NAV, cash, positions (real shares, lots), fills and P&L.

    `costs_to_date` is the running total of every cost since the book's first session.
    """
    rows = run.nav.filter(pl.col("date") <= day).sort("date")
    if rows.height == 0 or rows["date"][-1] != day:
        raise UserInputError(f"the replay has no row for {day}")
    last = rows.row(-1, named=True)
    previous = rows["nav"][-2] if rows.height > 1 else last["nav"]
    lot = max(lot_size or 1, 1)
    held = run.positions.filter(pl.col("date") == day).with_columns(
        lots=(pl.col("shares").round(6) / lot).floor().cast(pl.Int64)
    )
    fills = run.trades.filter(pl.col("date") == day).select(
        "symbol", "side", "session", "price", "shares", "cost", "reason"
    )
    return BookDay(
        day=day,
        nav=float(last["nav"]),
        cash=float(last["cash"]),
        position_value=float(held["value"].sum()) if held.height else 0.0,
        costs_to_date=float(rows["costs"].sum()),
        pnl=float(last["nav"] - previous),
        fills=fills.to_dicts(),
        positions=held.select("symbol", "shares", "lots", "value").to_dicts(),
    )
