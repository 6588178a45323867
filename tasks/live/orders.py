"""Live timing: the month's decision history and the next session's orders (pure functions).

Input contract: the month's selection (symbols, equal slots), the decision month's history per
symbol (`history`: symbol -> list of +1/-1 in decision order, today's signal last) and whether
the next session is the month's last. The held-days rule is `strategy.timing.held_states` itself,
replayed over the month's history with the backtest's conventions (`strategy.timing.timing_plan`),
so live orders follow exactly the rule the backtest tested:

  +1 while flat -> buy (held days = hold_days); +1 while holding -> held days = hold_days;
  -1 while flat -> stay flat; -1 while holding -> held days - 1, sell at 0;
  month t's decisions are taken after the closes of its rebalance date (the previous month's
  last session) through its second-to-last session and trade at the next session's open; no
  buy opens at the month's last session, and everything is sold at that session's close.

So after the close of the month's last session the flow decides for the next month (its first
decision, with the next month's selection), and after the close of the second-to-last session
the orders hold both the last session's open trades and its closing sells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest.api import market_arrays
from cnnlstm.tasks.backtest.market import MarketConfig
from cnnlstm.tasks.backtest.sizing import size_buy
from cnnlstm.tasks.strategy.timing import held_states

ORDER_SCHEMA = {
    "symbol": pl.Utf8,
    "side": pl.Utf8,
    "session": pl.Utf8,
    "trade_date": pl.Date,
    "weight": pl.Float64,
    "shares": pl.Float64,
    "cost": pl.Float64,
    "reason": pl.Utf8,
    "held_after": pl.Boolean,
}


class TimingState(BaseModel):
    """The decision month's history: its decision days and each symbol's +1/-1 decisions."""

    model_config = ConfigDict(frozen=True)

    month: date | None = None
    days: list[date] = Field(default_factory=list)
    history: dict[str, list[int]] = Field(default_factory=dict)


class EarlierDayError(UserInputError):
    """A day before the state's last decision day was asked for without `rebuild`."""


def record_decisions(
    state: TimingState,
    *,
    month: date,
    day: date,
    symbols: Sequence[str],
    signals: Mapping[str, int],
    rebuild: bool = False,
) -> tuple[TimingState, list[date]]:
    """Append `day`'s decisions for `month`'s selection to the history.

    A re-run of the last recorded day replaces its decisions (idempotent). A day before the last
    recorded day refuses unless `rebuild`, which drops the later days (returned, so their orders
    can be withdrawn). A symbol without a signal decides -1 (no evidence to hold); a symbol
    selected after the month's first decision day is flat (-1) before.

    Returns:
        (new state, the later days dropped by a rebuild).

    Raises:
        EarlierDayError: `day` comes before the last recorded day and `rebuild` is False.
    """
    if state.month != month:
        if state.month is not None and state.month > month and not rebuild:
            raise EarlierDayError(
                f"the timing state is at month {state.month:%Y-%m}, after {month:%Y-%m}: "
                "re-run with rebuild=True to rebuild from this day"
            )
        state = TimingState(month=month)
    days = list(state.days)
    history = {s: list(h) for s, h in state.history.items()}
    dropped: list[date] = []
    if days and day <= days[-1]:
        if day < days[-1] and not rebuild:
            raise EarlierDayError(
                f"{day} comes before the timing state's last day {days[-1]}: a re-run would "
                f"erase {[str(d) for d in days if d > day]}; re-run with rebuild=True to "
                "rebuild from this day"
            )
        cut = next(i for i, d in enumerate(days) if d >= day)
        dropped = [d for d in days[cut:] if d != day]
        days = days[:cut]
        history = {s: h[:cut] for s, h in history.items()}
    for symbol in symbols:
        past = history.get(symbol, [])
        past += [-1] * (len(days) - len(past))
        history[symbol] = [*past, int(signals.get(symbol, -1))]
    days.append(day)
    return TimingState(month=month, days=days, history=history), dropped


def held_around(
    history: Sequence[int], hold_days: int, *, last_step_may_buy: bool = True
) -> tuple[bool, bool]:
    """(held before the last decision, held after it) for one symbol's month of decisions."""
    if not history:
        return False, False
    last_buy = None if last_step_may_buy else len(history) - 2
    held = held_states(list(history), hold_days=hold_days, last_buy_step=last_buy)
    before = bool(held[-2]) if len(held) > 1 else False
    return before, bool(held[-1])


def next_session_orders(
    symbols: Sequence[str],
    history: Mapping[str, Sequence[int]],
    *,
    trade_date: date,
    hold_days: int = 5,
    month_last: bool = False,
    closes: Mapping[str, float] | None = None,
    capital: float | None = None,
    market: MarketConfig | None = None,
) -> pl.DataFrame:
    """The orders that today's decisions imply for the next session, one row per trade.

    Args:
        symbols: The decision month's selected symbols (each an equal slot of capital).
        history: Per symbol, the month's +1/-1 decisions so far, today's last.
        trade_date: The next session, when the orders trade.
        hold_days: Held days a +1 sets.
        month_last: The next session is the month's last: no buy opens at its open, and every
            position still held is sold at its close.
        closes: Today's close per symbol, to size a buy's slot in shares (with `capital`).
        capital: Capital to size buys; None leaves shares and cost null. A sell sells the whole
            position (its shares are the book's), so its shares stay null.
        market: The market whose rules size a buy (`tasks.backtest.sizing.size_buy`: whole
            lots, net of costs, as the backtest kernel sizes it); default the `cn` preset.

    Returns:
        symbol, side (buy/sell), session (open/close), trade_date, weight, shares, cost,
        reason, held_after.
    """
    weight = 1.0 / len(symbols) if symbols else 0.0
    rows = []
    for symbol in symbols:
        steps = list(history.get(symbol, []))
        before, after = held_around(steps, hold_days, last_step_may_buy=not month_last)
        signal = steps[-1] if steps else None
        if after and not before:
            rows.append(
                (symbol, "buy", "open", f"signal +1 while flat: hold {hold_days} days", True)
            )
        elif before and not after:
            reason = "held days ran out after -1 signals" if signal == -1 else "position closed"
            rows.append((symbol, "sell", "open", reason, False))
        if month_last and after:
            rows.append((symbol, "sell", "close", "month end: every position closes", False))
    frame = pl.DataFrame(
        rows,
        schema={k: ORDER_SCHEMA[k] for k in ("symbol", "side", "session", "reason", "held_after")},
        orient="row",
    )
    slot = None if capital is None else capital * weight
    shares, costs = _size_buys(frame, closes or {}, slot, trade_date, market)
    return frame.with_columns(
        trade_date=pl.lit(trade_date, dtype=pl.Date),
        weight=pl.lit(weight, dtype=pl.Float64),
        shares=pl.Series(shares, dtype=pl.Float64),
        cost=pl.Series(costs, dtype=pl.Float64),
    ).select(list(ORDER_SCHEMA))


def _size_buys(
    orders: pl.DataFrame,
    closes: Mapping[str, float],
    slot: float | None,
    trade_date: date,
    market: MarketConfig | None,
) -> tuple[list[float | None], list[float | None]]:
    """(shares, cost) per order: a buy's slot at its close by the market's rule; else null."""
    cfg = market or MarketConfig.preset("cn")
    shares: list[float | None] = []
    costs: list[float | None] = []
    for symbol, side in orders.select("symbol", "side").iter_rows():
        price = closes.get(symbol)
        if slot is None or side != "buy" or price is None or not price > 0:
            shares.append(None)
            costs.append(None)
            continue
        sized = size_buy(symbol, slot, float(price), trade_date, cfg)
        shares.append(sized.shares)
        costs.append(sized.cost)
    return shares, costs


def real_closes(bars: pl.DataFrame, day: date) -> dict[str, float]:
    """Each symbol's real (unadjusted) close of `day`: the price an order is sized at."""
    today = bars.filter(pl.col("date") == day)
    if not today.height:
        return {}
    market = market_arrays(today)
    factor = market.factor if market.factor is not None else np.ones_like(market.close)
    real = market.close[0] / factor[0]
    return {s: float(p) for s, p in zip(market.symbols, real, strict=True)}


def with_planned_shares(orders: pl.DataFrame, planned: pl.DataFrame) -> pl.DataFrame:
    """The orders sized by the backtest kernel's own preview of the next session.

    `planned` is the kernel's trades of the next session replayed at today's close (real
    `shares` in whole lots and their `cost`, `tasks.live.book.replay(preview=True)`): each
    order takes the planned trade of its symbol, side and session (a buy the kernel cannot
    afford gets 0 shares); a trade the kernel still has pending (one blocked before, retried
    now) is added with the kernel's reason, so the orders are exactly what the book will try.
    """
    keys = ["symbol", "side", "session"]
    sized = planned.select(*keys, pl.col("shares").alias("_s"), pl.col("cost").alias("_c"))
    joined = orders.join(sized, on=keys, how="left").with_columns(
        shares=pl.col("_s").fill_null(0.0), cost=pl.col("_c").fill_null(0.0)
    )
    extra = planned.join(orders, on=keys, how="anti")
    weight = orders["weight"][0] if orders.height else None
    pending = extra.select(
        *keys,
        trade_date=pl.col("date"),
        weight=pl.lit(weight, dtype=pl.Float64),
        shares=pl.col("shares"),
        cost=pl.col("cost"),
        reason=pl.lit("pending in the book: ") + pl.col("reason"),
        held_after=pl.col("side") == "buy",
    )
    out = joined.select(list(ORDER_SCHEMA))
    return pl.concat([out, pending.select(list(ORDER_SCHEMA))], how="vertical_relaxed")


def decision_month(day: date, month_last_session: date) -> date:
    """The month a decision on `day` is for: the next month from its month's last session on."""
    first = day.replace(day=1)
    if day >= month_last_session:
        return date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first
