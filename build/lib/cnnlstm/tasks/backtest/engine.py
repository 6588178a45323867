"""The compiled backtest kernel: one strategy's daily portfolio over plain numpy arrays.

Input contract (all arrays day-major, shape `(T, N)` = days x stocks, so the inner loop over
stocks walks contiguous memory):

* `open_px`, `close_px` float64: the day's prices, NaN where the stock has no bar.
* `tradable` bool: a bar with volume > 0 exists (a suspended stock cannot trade and keeps its
  last traded close as its price).
* `instr_open`, `instr_close` int8: the strategy's instruction for each session of the day:
  1 = hold the stock after this session, 0 = be flat, -1 = no instruction (no trade is tried in
  this session, a pending one included). A trade the market blocks (suspension, limit, T+1) stays
  pending and is retried at the next session with an instruction, until a new instruction
  cancels it; the trade then records why and for how many sessions it waited.
* `month_end` bool `(T,)`: the month's last trading day (labels month-end sells).
* `delist_day` int64 `(N,)`: the first day after a delisted stock's last bar (-1: listed to the
  end of the data); a holding is settled then at its last traded close, with selling costs.
* `alloc_day` int64 `(M,)`, `alloc_session` int8 `(M,)` (0 open, 1 close), `members` bool
  `(M, N)`: at month m's allocation session the portfolio is split into equal capital slots, one
  per member; a member buys with its slot's cash and a sale returns the proceeds to its slot, so
  a timed stock re-enters with its own money. A member still held is resized to its slot.

Within a session sells run before the allocation, and buys after it. Costs: commission (with a
minimum) both ways, stamp duty on sells, slippage; each trade's `cost` is their sum and cash
moves by `shares * price -/+ cost`, so `cash + positions = nav` holds to rounding every day.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

SESSION_OPEN, SESSION_CLOSE = 0, 1
SIDE_BUY, SIDE_SELL = 1, -1

# Why a trade was wanted (set when the instruction changed).
REASON_ENTRY, REASON_SIGNAL_BUY, REASON_MONTH_END, REASON_SIGNAL_SELL, REASON_REBALANCE = range(
    1, 6
)
REASON_DELISTED = 6
REASON_NAMES = {
    REASON_ENTRY: "entry",
    REASON_SIGNAL_BUY: "signal_buy",
    REASON_MONTH_END: "month_end",
    REASON_SIGNAL_SELL: "signal_sell",
    REASON_REBALANCE: "rebalance",
    REASON_DELISTED: "delisted",
}
# Why a wanted trade could not run (the last cause before it ran).
BLOCK_NONE, BLOCK_SUSPENDED, BLOCK_LIMIT_UP, BLOCK_LIMIT_DOWN, BLOCK_T_PLUS_1, BLOCK_NO_CASH = (
    range(6)
)
BLOCK_NAMES = {
    BLOCK_SUSPENDED: "suspended",
    BLOCK_LIMIT_UP: "limit_up",
    BLOCK_LIMIT_DOWN: "limit_down",
    BLOCK_T_PLUS_1: "t_plus_1",
    BLOCK_NO_CASH: "no_cash",
}

TRADE_DTYPE = np.dtype(
    [
        ("day", np.int64),
        ("stock", np.int64),
        ("session", np.int8),
        ("side", np.int8),
        ("price", np.float64),
        ("shares", np.float64),
        ("cost", np.float64),
        ("reason", np.int8),
        ("blocked_by", np.int8),
        ("waited", np.int32),
    ]
)


class CostParams(NamedTuple):
    """The market's numbers as the kernel sees them (see `MarketConfig`)."""

    commission_rate: float
    min_commission: float
    stamp_duty_rate: float
    slippage_rate: float
    t_plus_1: bool
    price_limit: float  # <= 0: no limits
    limit_tolerance: float
    lot_size: float  # 0: fractional shares
    initial_capital: float


@njit(cache=True)
def _round_lot_nb(shares: float, lot: float) -> float:
    """Round shares down to whole lots (no rounding when lot is 0)."""
    if lot > 0:
        return np.floor(shares / lot + 1e-9) * lot
    return shares


@njit(cache=True)
def _buy_cost_nb(shares: float, price: float, p: CostParams) -> float:
    """Commission + slippage of buying `shares` at `price`."""
    value = shares * price
    return max(p.commission_rate * value, p.min_commission) + p.slippage_rate * value


@njit(cache=True)
def _sell_cost_nb(shares: float, price: float, p: CostParams) -> float:
    """Commission + stamp duty + slippage of selling `shares` at `price`."""
    value = shares * price
    return (
        max(p.commission_rate * value, p.min_commission)
        + (p.stamp_duty_rate + p.slippage_rate) * value
    )


@njit(cache=True)
def _affordable_shares_nb(budget: float, price: float, p: CostParams) -> float:
    """The most shares whose value plus buying cost fits in `budget` (0 if none)."""
    if budget <= 0.0:
        return 0.0
    shares = budget / (price * (1.0 + p.slippage_rate + p.commission_rate))
    if p.commission_rate * shares * price < p.min_commission:
        shares = (budget - p.min_commission) / (price * (1.0 + p.slippage_rate))
    shares = _round_lot_nb(shares, p.lot_size)
    if p.lot_size > 0:
        while shares > 0 and shares * price + _buy_cost_nb(shares, price, p) > budget + 1e-9:
            shares -= p.lot_size
    if shares <= 1e-12:
        return 0.0
    return shares


@njit(cache=True)
def _block_nb(
    day: int, s: int, side: int, price: float, ref: float, tradable, bought_day, p: CostParams
) -> int:
    """Why a trade of stock `s` cannot run now (BLOCK_NONE when it can)."""
    if not tradable[day, s] or not np.isfinite(price):
        return BLOCK_SUSPENDED
    if side == SIDE_SELL and p.t_plus_1 and bought_day[s] == day:
        return BLOCK_T_PLUS_1
    if p.price_limit > 0 and np.isfinite(ref):
        move = price / ref - 1.0
        if side == SIDE_BUY and move >= p.price_limit - p.limit_tolerance:
            return BLOCK_LIMIT_UP
        if side == SIDE_SELL and move <= -(p.price_limit - p.limit_tolerance):
            return BLOCK_LIMIT_DOWN
    return BLOCK_NONE


@njit(cache=True)
def _record_nb(trades, n, day, s, session, side, price, q, cost, reason, blocked_by, waited) -> int:
    """Write trade number `n` if there is room; return the next trade number."""
    if n < trades.shape[0]:
        t = trades[n]
        t.day, t.stock, t.session, t.side = day, s, session, side
        t.price, t.shares, t.cost = price, q, cost
        t.reason, t.blocked_by, t.waited = reason, blocked_by, waited
    return n + 1


class Book(NamedTuple):
    """The kernel's mutable state: per-stock arrays and one-element accumulators."""

    shares: np.ndarray  # (N,) float64 held
    want: np.ndarray  # (N,) int8 wanted holding (1 / 0)
    slot_cash: np.ndarray  # (N,) float64 cash of the stock's slot this month
    has_slot: np.ndarray  # (N,) bool member of this month's allocation
    last_close: np.ndarray  # (N,) float64 last traded close
    bought_day: np.ndarray  # (N,) int64 day of the last buy (T+1)
    reason: np.ndarray  # (N,) int8 why the pending trade is wanted
    blocked_by: np.ndarray  # (N,) int8 last cause that blocked it
    waited: np.ndarray  # (N,) int32 sessions it has waited
    cash: np.ndarray  # (1,) float64
    counts: np.ndarray  # (2,) int64: trades, blocked attempts


@njit(cache=True)
def _new_book_nb(n_stocks: int, capital: float) -> Book:
    """An empty book holding `capital` in cash."""
    return Book(
        np.zeros(n_stocks),
        np.zeros(n_stocks, dtype=np.int8),
        np.zeros(n_stocks),
        np.zeros(n_stocks, dtype=np.bool_),
        np.full(n_stocks, np.nan),
        np.full(n_stocks, -1, dtype=np.int64),
        np.zeros(n_stocks, dtype=np.int8),
        np.zeros(n_stocks, dtype=np.int8),
        np.zeros(n_stocks, dtype=np.int32),
        np.full(1, capital),
        np.zeros(2, dtype=np.int64),
    )


@njit(cache=True)
def _sell_nb(b: Book, trades, costs, day, s, session, price, q, reason, p: CostParams) -> None:
    """Sell `q` shares of stock `s` at `price`; the proceeds go to cash and to its slot."""
    cost = _sell_cost_nb(q, price, p)
    b.cash[0] += q * price - cost
    if b.has_slot[s]:
        b.slot_cash[s] += q * price - cost
    costs[day] += cost
    b.counts[0] = _record_nb(
        trades,
        b.counts[0],
        day,
        s,
        session,
        SIDE_SELL,
        price,
        q,
        cost,
        reason,
        b.blocked_by[s],
        b.waited[s],
    )
    b.shares[s] -= q
    b.blocked_by[s] = BLOCK_NONE
    b.waited[s] = 0


@njit(cache=True)
def _wait_nb(b: Book, s: int, cause: int) -> None:
    """Note that stock `s`'s wanted trade was blocked by `cause` this session."""
    b.blocked_by[s] = cause
    b.waited[s] += 1
    b.counts[1] += 1


@njit(cache=True)
def _settle_delisted_nb(b: Book, trades, costs, day, delist_day, p: CostParams) -> None:
    """Settle the holdings of stocks delisted before `day` at their last traded close."""
    for s in range(b.shares.shape[0]):
        if delist_day[s] == day and b.shares[s] > 0 and np.isfinite(b.last_close[s]):
            b.blocked_by[s], b.waited[s] = BLOCK_NONE, 0
            _sell_nb(
                b,
                trades,
                costs,
                day,
                s,
                SESSION_OPEN,
                b.last_close[s],
                b.shares[s],
                REASON_DELISTED,
                p,
            )
            b.want[s] = 0


@njit(cache=True)
def _take_instructions_nb(b: Book, instr, day, session, is_alloc, month_end) -> None:
    """New instructions replace pending ones (and say why the trade is wanted)."""
    for s in range(b.shares.shape[0]):
        order = instr[day, s]
        if order < 0 or order == b.want[s]:
            continue
        b.want[s] = order
        b.blocked_by[s] = BLOCK_NONE
        b.waited[s] = 0
        if order == 1:
            b.reason[s] = REASON_ENTRY if is_alloc else REASON_SIGNAL_BUY
        elif session == SESSION_CLOSE and month_end[day]:
            b.reason[s] = REASON_MONTH_END
        else:
            b.reason[s] = REASON_SIGNAL_SELL


@njit(cache=True)
def _sell_unwanted_nb(b: Book, trades, costs, instr, px, tradable, day, session, p) -> None:
    """Sell every holding whose instruction is flat, unless the market blocks it."""
    for s in range(b.shares.shape[0]):
        if instr[day, s] < 0 or b.want[s] != 0 or b.shares[s] <= 0:
            continue
        price = px[day, s]
        cause = _block_nb(day, s, SIDE_SELL, price, b.last_close[s], tradable, b.bought_day, p)
        if cause != BLOCK_NONE:
            _wait_nb(b, s, cause)
        else:
            _sell_nb(b, trades, costs, day, s, session, price, b.shares[s], b.reason[s], p)


@njit(cache=True)
def _allocate_nb(b: Book, trades, costs, members_m, px, tradable, day, session, p) -> None:
    """Split cash plus the kept members' value into equal slots; trim members over theirs.

    Cash of positions still waiting to be sold stays outside the slots.
    """
    n_stocks = b.shares.shape[0]
    k = 0
    investable = b.cash[0]
    for s in range(n_stocks):
        b.has_slot[s] = members_m[s]
        b.slot_cash[s] = 0.0
        if b.has_slot[s]:
            k += 1
            if b.shares[s] > 0 and b.want[s] == 1:
                mark = px[day, s] if tradable[day, s] else b.last_close[s]
                investable += b.shares[s] * mark
    slot_value = investable / k if k > 0 else 0.0
    for s in range(n_stocks):
        if not b.has_slot[s]:
            continue
        if b.shares[s] <= 0:
            b.slot_cash[s] = slot_value
            continue
        price = px[day, s]
        b.slot_cash[s] = slot_value - b.shares[s] * (price if tradable[day, s] else b.last_close[s])
        if not tradable[day, s] or b.want[s] != 1 or b.slot_cash[s] >= 0:
            continue
        # Over its slot: sell the excess (a top-up runs with the buys).
        q = _round_lot_nb(-b.slot_cash[s] / price, p.lot_size)
        cause = _block_nb(day, s, SIDE_SELL, price, b.last_close[s], tradable, b.bought_day, p)
        if q > 0 and cause == BLOCK_NONE:
            blocked, waited = b.blocked_by[s], b.waited[s]
            b.blocked_by[s], b.waited[s] = BLOCK_NONE, 0
            _sell_nb(b, trades, costs, day, s, session, price, q, REASON_REBALANCE, p)
            b.blocked_by[s], b.waited[s] = blocked, waited


@njit(cache=True)
def _buy_wanted_nb(b: Book, trades, costs, instr, px, tradable, day, session, is_alloc, p):
    """Buy every wanted member with its slot's cash (top up kept members at the allocation)."""
    for s in range(b.shares.shape[0]):
        if instr[day, s] < 0 or b.want[s] != 1 or not b.has_slot[s]:
            continue
        top_up = is_alloc and b.shares[s] > 0
        if b.shares[s] > 0 and not top_up:
            continue
        price = px[day, s]
        cause = _block_nb(day, s, SIDE_BUY, price, b.last_close[s], tradable, b.bought_day, p)
        q = 0.0
        if cause == BLOCK_NONE:
            q = _affordable_shares_nb(min(b.slot_cash[s], b.cash[0]), price, p)
            if q <= 0 and not top_up:
                cause = BLOCK_NO_CASH
        if cause != BLOCK_NONE:
            if not top_up:
                _wait_nb(b, s, cause)
            continue
        if q <= 0:
            continue
        cost = _buy_cost_nb(q, price, p)
        b.cash[0] -= q * price + cost
        b.slot_cash[s] -= q * price + cost
        costs[day] += cost
        why = REASON_REBALANCE if top_up else b.reason[s]
        b.counts[0] = _record_nb(
            trades,
            b.counts[0],
            day,
            s,
            session,
            SIDE_BUY,
            price,
            q,
            cost,
            why,
            b.blocked_by[s],
            b.waited[s],
        )
        b.shares[s] += q
        b.bought_day[s] = day
        b.blocked_by[s] = BLOCK_NONE
        b.waited[s] = 0


@njit(cache=True)
def simulate_nb(
    open_px,
    close_px,
    tradable,
    instr_open,
    instr_close,
    month_end,
    delist_day,
    alloc_day,
    alloc_session,
    members,
    p: CostParams,
    trades,
    shares_out,
):
    """Simulate one strategy; fill `trades` (a TRADE_DTYPE array) and `shares_out` if sized.

    Returns:
        (n_trades, nav, cash, position_value, costs, n_blocked): the number of trades (it may
        exceed `len(trades)`, then only the first ones were written and the caller reruns with
        room), daily nav / cash / position value / costs `(T,)`, and blocked attempts.
    """
    n_days, n_stocks = close_px.shape
    record_positions = shares_out.shape[0] == n_days
    b = _new_book_nb(n_stocks, p.initial_capital)
    nav = np.zeros(n_days)
    cash = np.zeros(n_days)
    value = np.zeros(n_days)
    costs = np.zeros(n_days)
    m = 0  # next allocation
    for day in range(n_days):
        _settle_delisted_nb(b, trades, costs, day, delist_day, p)
        for session in range(2):
            instr = instr_open if session == SESSION_OPEN else instr_close
            px = open_px if session == SESSION_OPEN else close_px
            is_alloc = (
                m < alloc_day.shape[0] and alloc_day[m] == day and alloc_session[m] == session
            )
            _take_instructions_nb(b, instr, day, session, is_alloc, month_end)
            _sell_unwanted_nb(b, trades, costs, instr, px, tradable, day, session, p)
            if is_alloc:
                _allocate_nb(b, trades, costs, members[m], px, tradable, day, session, p)
                m += 1
            _buy_wanted_nb(b, trades, costs, instr, px, tradable, day, session, is_alloc, p)
        # Mark to market at the close; a suspended stock keeps its last traded close.
        for s in range(n_stocks):
            if tradable[day, s] and np.isfinite(close_px[day, s]):
                b.last_close[s] = close_px[day, s]
            if b.shares[s] > 0:
                value[day] += b.shares[s] * b.last_close[s]
            if record_positions:
                shares_out[day, s] = b.shares[s]
        cash[day] = b.cash[0]
        nav[day] = cash[day] + value[day]
    return b.counts[0], nav, cash, value, costs, b.counts[1]
