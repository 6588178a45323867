"""The compiled backtest kernel: one strategy's daily portfolio over plain numpy arrays.

Input contract (all arrays day-major, shape `(T, N)` = days x stocks, so the inner loop over
stocks walks contiguous memory):

* `open_px`, `close_px` float64: the day's prices as the data give them (adjusted or raw), NaN
  where the stock has no bar.
* `tradable` bool: a bar with volume > 0 exists (a suspended stock cannot trade and keeps its
  last traded close as its price).
* `instr_open`, `instr_close` int8: the strategy's instruction for each session of the day:
  1 = hold the stock after this session, 0 = be flat, -1 = no instruction (no trade is tried in
  this session, a pending one included). A trade the market blocks (suspension, limit, T+1,
  capacity, cash) stays pending and is retried at the next session with an instruction, until
  a new instruction cancels it; the trade then records why and for how many sessions it waited.
* `month_end` bool `(T,)`: the month's last trading day (labels month-end sells).
* `delist_day` int64 `(N,)`: the first day after a delisted stock's last bar (-1: not
  delisted); a holding is settled then at its last traded close, with selling costs.
* `alloc_day` int64 `(M,)`, `alloc_session` int8 `(M,)` (0 open, 1 close), `members` bool
  `(M, N)`: at month m's allocation session the portfolio is split into equal capital slots, one
  per member; a member buys with its slot's cash and a sale returns the proceeds to its slot, so
  a timed stock re-enters with its own money. A member still held is resized to its slot.
* `rules` (`Rules`): the market's dated rules resolved per day and stock: the price band
  (NaN: no limit), the adjustment factor (raw price = price / factor; 1 for raw data), the
  day's traded amount (capacity), stamp duty each side, transfer fees and the lots.

Real prices: a limit price is the previous close in real terms (`last close / factor` of the
day, the exchange's reference price also on ex-dates) times 1 +- band, rounded to the tick; a
buy at or above limit-up and a sell at or below limit-down are blocked. Shares are counted in
the data's units internally (`shares * price` is the value) and sized in real shares
(`shares * factor`): a buy is `buy_min` real shares plus whole `buy_step`s; a sell may be any
remainder. Costs: commission (with a minimum) both ways, stamp duty per side, transfer fee,
slippage; each trade's `cost` is their sum and cash moves by `shares * price -/+ cost`, so
`cash + positions = nav` holds to rounding every day.

Cash is a hard limit: a buy is sized net of its costs (never below zero cash), a sell's cost
never exceeds the cash it leaves (flag `cash`); a rebalancing trade smaller than one lot (one
real share when fractional) is not made, and a position below one real share is closed without
cost (flag `dust`). A strategy whose NAV reaches zero stops trading (ruined).

Within a session sells run before the allocation, and buys after it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

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
(
    BLOCK_NONE,
    BLOCK_SUSPENDED,
    BLOCK_LIMIT_UP,
    BLOCK_LIMIT_DOWN,
    BLOCK_T_PLUS_1,
    BLOCK_NO_CASH,
    BLOCK_LOT,
    BLOCK_CAPACITY,
) = range(8)
BLOCK_NAMES = {
    BLOCK_SUSPENDED: "suspended",
    BLOCK_LIMIT_UP: "limit_up",
    BLOCK_LIMIT_DOWN: "limit_down",
    BLOCK_T_PLUS_1: "t_plus_1",
    BLOCK_NO_CASH: "no_cash",
    BLOCK_LOT: "below_one_lot",
    BLOCK_CAPACITY: "capacity",
}
# How a trade that ran was resized by a rule.
FLAG_NONE, FLAG_CAPACITY, FLAG_CASH, FLAG_DUST = range(4)
FLAG_NAMES = {FLAG_CAPACITY: "capacity", FLAG_CASH: "cash", FLAG_DUST: "dust"}

# Layout of the kernel's counters (`Book.counts`).
COUNT_TRADES, COUNT_BLOCKED = 0, 1
COUNT_BLOCK0 = 2  # + BLOCK_*: blocked attempts by cause
COUNT_FLAG0 = 12  # + FLAG_*: trades resized by rule
COUNT_DROPPED = 20  # rebalancing trades below one lot (or one real share) not made
N_COUNTS = 24

RUIN_FRACTION = 1e-9  # NAV at or below this share of the initial capital: ruined

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
        ("flag", np.int8),
        ("factor", np.float64),
    ]
)


class CostParams(NamedTuple):
    """The market's scalar numbers as the kernel sees them (see `MarketConfig`)."""

    commission_rate: float
    min_commission: float
    slippage_rate: float
    t_plus_1: bool
    tick: float
    participation: float  # <= 0: no capacity cap
    initial_capital: float


class Rules(NamedTuple):
    """The market's dated rules resolved per day and stock (see the module docstring)."""

    band: np.ndarray  # (T, N) float64 price band, NaN: no limit
    factor: np.ndarray  # (T, N) float64 price / raw price (1: raw data)
    amount: np.ndarray  # (T, N) float64 traded amount in currency, NaN: unknown
    stamp_buy: np.ndarray  # (T,) float64
    stamp_sell: np.ndarray  # (T,) float64
    xfer_rate: np.ndarray  # (T, E) float64 transfer fee, fraction of value
    xfer_share: np.ndarray  # (T, E) float64 transfer fee per real share
    exch: np.ndarray  # (N,) int64 exchange of each stock (column of xfer_*)
    lot_min: np.ndarray  # (N,) float64 smallest buy in real shares (0: fractional)
    lot_step: np.ndarray  # (N,) float64 buy step in real shares (0: fractional)


def plain_rules(
    n_days: int,
    n_stocks: int,
    *,
    band: float = np.nan,
    lot: float = 0.0,
    stamp_sell: float = 0.0,
) -> Rules:
    """Rules with one flat band, lot and sell duty everywhere (raw prices, no capacity data)."""
    return Rules(
        np.full((n_days, n_stocks), band),
        np.ones((n_days, n_stocks)),
        np.full((n_days, n_stocks), np.nan),
        np.zeros(n_days),
        np.full(n_days, stamp_sell),
        np.zeros((n_days, 1)),
        np.zeros((n_days, 1)),
        np.zeros(n_stocks, dtype=np.int64),
        np.full(n_stocks, lot),
        np.full(n_stocks, lot),
    )


@njit(cache=True)
def _round_tick_nb(price: float, tick: float) -> float:
    """Round half up to the tick (the exchanges round limit prices this way)."""
    return np.floor(price / tick + 0.5 + 1e-9) * tick


@njit(cache=True)
def _round_buy_nb(raw: float, lot_min: float, lot_step: float) -> float:
    """Round real shares down to `lot_min` plus whole steps (0 below `lot_min`)."""
    if lot_step <= 0:
        return max(raw, 0.0)
    if raw < lot_min - 1e-9:
        return 0.0
    return lot_min + np.floor((raw - lot_min) / lot_step + 1e-9) * lot_step


@njit(cache=True)
def _round_step_nb(raw: float, lot_step: float) -> float:
    """Round real shares of a partial sell down to whole steps (one share when fractional)."""
    if lot_step > 0:
        return np.floor(raw / lot_step + 1e-9) * lot_step
    return raw if raw >= 1.0 - 1e-9 else 0.0


@njit(cache=True)
def trade_cost_nb(side: int, q: float, price: float, day: int, s: int, r: Rules, p) -> float:
    """Commission (with its minimum) + stamp duty + transfer fee + slippage of a trade."""
    value = q * price
    if value <= 0:
        return 0.0
    e = r.exch[s]
    duty = r.stamp_buy[day] if side == SIDE_BUY else r.stamp_sell[day]
    return (
        max(p.commission_rate * value, p.min_commission)
        + (duty + p.slippage_rate + r.xfer_rate[day, e]) * value
        + r.xfer_share[day, e] * q * r.factor[day, s]
    )


@njit(cache=True)
def _capacity_raw_nb(day: int, s: int, raw_price: float, r: Rules, p) -> float:
    """Most real shares the participation cap allows today (inf without a cap)."""
    if p.participation <= 0 or not np.isfinite(r.amount[day, s]):
        return np.inf
    return p.participation * r.amount[day, s] / raw_price


@njit(cache=True)
def affordable_nb(budget: float, price: float, day: int, s: int, r: Rules, p):
    """The most shares (data units) a `budget` buys net of costs, and why none / why cut.

    Returns:
        (shares, cause, flag): `cause` is BLOCK_NONE, BLOCK_NO_CASH (no budget), BLOCK_LOT (not
        one lot net of costs) or BLOCK_CAPACITY (the cap allows less than one lot); `flag` is
        FLAG_CAPACITY when the cap cut the buy.
    """
    if budget <= 0.0:
        return 0.0, BLOCK_NO_CASH, FLAG_NONE
    f = r.factor[day, s]
    raw_price = price / f
    e = r.exch[s]
    var = p.slippage_rate + r.stamp_buy[day] + r.xfer_rate[day, e]
    per_share = r.xfer_share[day, e]
    raw = budget / (raw_price * (1.0 + p.commission_rate + var) + per_share)
    if p.commission_rate * raw * raw_price < p.min_commission:
        raw = (budget - p.min_commission) / (raw_price * (1.0 + var) + per_share)
    if raw <= 0:
        return 0.0, BLOCK_NO_CASH if r.lot_step[s] <= 0 else BLOCK_LOT, FLAG_NONE
    flag = FLAG_NONE
    uncut = _round_buy_nb(raw, r.lot_min[s], r.lot_step[s])
    cap = _capacity_raw_nb(day, s, raw_price, r, p)
    if cap < raw:
        raw, flag = cap, FLAG_CAPACITY
    raw = _round_buy_nb(raw, r.lot_min[s], r.lot_step[s])
    step = r.lot_step[s]
    for _ in range(64):
        if raw <= 0:
            break
        total = raw * raw_price + trade_cost_nb(SIDE_BUY, raw / f, price, day, s, r, p)
        if total <= budget:
            break
        if step > 0:
            raw -= step
            if raw < r.lot_min[s] - 1e-9:
                raw = 0.0
        else:
            raw *= budget / total * (1.0 - 1e-12)
    if raw <= 1e-12:
        if flag == FLAG_CAPACITY and uncut > 0:
            return 0.0, BLOCK_CAPACITY, FLAG_NONE
        return 0.0, BLOCK_NO_CASH if step <= 0 else BLOCK_LOT, FLAG_NONE
    return raw / f, BLOCK_NONE, flag


@njit(cache=True)
def limit_prices_nb(ref: float, band: float, f: float, tick: float):
    """(limit-up, limit-down) in real prices from the data's last close `ref` (NaN: none)."""
    if not np.isfinite(band) or not np.isfinite(ref):
        return np.nan, np.nan
    ref_raw = _round_tick_nb(ref / f, tick)
    return _round_tick_nb(ref_raw * (1.0 + band), tick), _round_tick_nb(
        ref_raw * (1.0 - band), tick
    )


@njit(cache=True)
def block_nb(day: int, s: int, side: int, price: float, ref: float, tradable, bought_day, r, p):
    """Why a trade of stock `s` cannot run now (BLOCK_NONE when it can)."""
    if not tradable[day, s] or not np.isfinite(price):
        return BLOCK_SUSPENDED
    if side == SIDE_SELL and p.t_plus_1 and bought_day[s] == day:
        return BLOCK_T_PLUS_1
    f = r.factor[day, s]
    up, down = limit_prices_nb(ref, r.band[day, s], f, p.tick)
    if np.isfinite(up):
        raw = price / f
        if side == SIDE_BUY and raw >= up - 0.5 * p.tick:
            return BLOCK_LIMIT_UP
        if side == SIDE_SELL and raw <= down + 0.5 * p.tick:
            return BLOCK_LIMIT_DOWN
    return BLOCK_NONE


@njit(cache=True)
def _record_nb(
    trades, n, day, s, session, side, price, q, cost, reason, blocked_by, waited, flag, f
) -> int:
    """Write trade number `n` if there is room; return the next trade number."""
    if n < trades.shape[0]:
        t = trades[n]
        t.day, t.stock, t.session, t.side = day, s, session, side
        t.price, t.shares, t.cost = price, q, cost
        t.reason, t.blocked_by, t.waited = reason, blocked_by, waited
        t.flag, t.factor = flag, f
    return n + 1


class Book(NamedTuple):
    """The kernel's mutable state: per-stock arrays and small accumulators."""

    shares: np.ndarray  # (N,) float64 held (data units)
    want: np.ndarray  # (N,) int8 wanted holding (1 / 0)
    slot_cash: np.ndarray  # (N,) float64 cash of the stock's slot this month
    has_slot: np.ndarray  # (N,) bool member of this month's allocation
    last_close: np.ndarray  # (N,) float64 last traded close
    bought_day: np.ndarray  # (N,) int64 day of the last buy (T+1)
    reason: np.ndarray  # (N,) int8 why the pending trade is wanted
    blocked_by: np.ndarray  # (N,) int8 last cause that blocked it
    waited: np.ndarray  # (N,) int32 sessions it has waited
    cash: np.ndarray  # (1,) float64
    counts: np.ndarray  # (N_COUNTS,) int64, see COUNT_*


@njit(cache=True)
def new_book_nb(n_stocks: int, capital: float) -> Book:
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
        np.zeros(N_COUNTS, dtype=np.int64),
    )


@njit(cache=True)
def sell_nb(b: Book, trades, costs, day, s, session, price, q, reason, flag, r, p) -> None:
    """Sell `q` shares of stock `s` at `price`; the proceeds go to cash and to its slot.

    A position below one real share (`flag` FLAG_DUST) is closed without cost; a cost beyond
    the cash the sale leaves is capped there (FLAG_CASH).
    """
    value = q * price
    cost = 0.0 if flag == FLAG_DUST else trade_cost_nb(SIDE_SELL, q, price, day, s, r, p)
    room = b.cash[0] + value
    if cost > room:
        cost = max(room, 0.0)
        flag = FLAG_CASH
    b.cash[0] += value - cost
    if b.has_slot[s]:
        b.slot_cash[s] += value - cost
    costs[day] += cost
    if flag != FLAG_NONE:
        b.counts[COUNT_FLAG0 + flag] += 1
    b.counts[COUNT_TRADES] = _record_nb(
        trades,
        b.counts[COUNT_TRADES],
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
        flag,
        r.factor[day, s],
    )
    b.shares[s] -= q
    if b.shares[s] * r.factor[day, s] < 1e-9:
        b.shares[s] = 0.0
    b.blocked_by[s] = BLOCK_NONE
    b.waited[s] = 0


@njit(cache=True)
def wait_nb(b: Book, s: int, cause: int) -> None:
    """Note that stock `s`'s wanted trade was blocked by `cause` this session."""
    b.blocked_by[s] = cause
    b.waited[s] += 1
    b.counts[COUNT_BLOCKED] += 1
    b.counts[COUNT_BLOCK0 + cause] += 1


@njit(cache=True)
def _close_flag_nb(q: float, day: int, s: int, r: Rules) -> int:
    """FLAG_DUST for a whole position below one real share, else FLAG_NONE."""
    return FLAG_DUST if q * r.factor[day, s] < 1.0 - 1e-9 else FLAG_NONE


@njit(cache=True)
def settle_delisted_nb(b: Book, trades, costs, day, delist_day, r, p) -> None:
    """Settle the holdings of stocks delisted before `day` at their last traded close."""
    for s in range(b.shares.shape[0]):
        if delist_day[s] == day and b.shares[s] > 0 and np.isfinite(b.last_close[s]):
            b.blocked_by[s], b.waited[s] = BLOCK_NONE, 0
            q = b.shares[s]
            flag = _close_flag_nb(q, day, s, r)
            sell_nb(
                b,
                trades,
                costs,
                day,
                s,
                SESSION_OPEN,
                b.last_close[s],
                q,
                REASON_DELISTED,
                flag,
                r,
                p,
            )
            b.want[s] = 0


@njit(cache=True)
def take_instructions_nb(b: Book, instr, day, session, is_alloc, month_end) -> None:
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
def sell_unwanted_nb(b: Book, trades, costs, instr, px, tradable, day, session, r, p) -> None:
    """Sell every holding whose instruction is flat, unless the market blocks it.

    Under a participation cap the sale may be partial; the rest waits (cause `capacity`).
    """
    for s in range(b.shares.shape[0]):
        if instr[day, s] < 0 or b.want[s] != 0 or b.shares[s] <= 0:
            continue
        price = px[day, s]
        cause = block_nb(day, s, SIDE_SELL, price, b.last_close[s], tradable, b.bought_day, r, p)
        if cause != BLOCK_NONE:
            wait_nb(b, s, cause)
            continue
        q = b.shares[s]
        f = r.factor[day, s]
        flag = _close_flag_nb(q, day, s, r)
        cap = _capacity_raw_nb(day, s, price / f, r, p)
        if q * f > cap:
            part = _round_step_nb(cap, r.lot_step[s])
            if part <= 0:
                wait_nb(b, s, BLOCK_CAPACITY)
                continue
            q, flag = part / f, FLAG_CAPACITY
        partial = q < b.shares[s]
        waited = b.waited[s]
        sell_nb(b, trades, costs, day, s, session, price, q, b.reason[s], flag, r, p)
        if partial and b.shares[s] > 0:
            b.blocked_by[s], b.waited[s] = BLOCK_CAPACITY, waited + 1


@njit(cache=True)
def allocate_nb(b: Book, trades, costs, members_m, px, tradable, day, session, r, p) -> None:
    """Split cash plus the kept members' value into equal slots; trim members over theirs.

    Cash of positions still waiting to be sold stays outside the slots. A trim smaller than
    one lot (one real share when fractional) is not made.
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
        # Over its slot: sell the excess in whole steps (a top-up runs with the buys).
        f = r.factor[day, s]
        excess = min(-b.slot_cash[s] / price, b.shares[s]) * f
        raw = min(_round_step_nb(excess, r.lot_step[s]), b.shares[s] * f)
        raw = min(raw, _round_step_nb(_capacity_raw_nb(day, s, price / f, r, p), r.lot_step[s]))
        if raw <= 0:
            b.counts[COUNT_DROPPED] += 1
            continue
        cause = block_nb(day, s, SIDE_SELL, price, b.last_close[s], tradable, b.bought_day, r, p)
        if cause == BLOCK_NONE:
            blocked, waited = b.blocked_by[s], b.waited[s]
            b.blocked_by[s], b.waited[s] = BLOCK_NONE, 0
            sell_nb(b, trades, costs, day, s, session, price, raw / f, REASON_REBALANCE, 0, r, p)
            b.blocked_by[s], b.waited[s] = blocked, waited


@njit(cache=True)
def buy_wanted_nb(b: Book, trades, costs, instr, px, tradable, day, session, is_alloc, r, p):
    """Buy every wanted member with its slot's cash (top up kept members at the allocation)."""
    for s in range(b.shares.shape[0]):
        if instr[day, s] < 0 or b.want[s] != 1 or not b.has_slot[s]:
            continue
        top_up = is_alloc and b.shares[s] > 0
        if b.shares[s] > 0 and not top_up:
            continue
        price = px[day, s]
        cause = block_nb(day, s, SIDE_BUY, price, b.last_close[s], tradable, b.bought_day, r, p)
        q, flag = 0.0, FLAG_NONE
        if cause == BLOCK_NONE:
            q, cause, flag = affordable_nb(min(b.slot_cash[s], b.cash[0]), price, day, s, r, p)
        if top_up:
            # A top-up below one lot (one real share when fractional) is not made.
            if cause != BLOCK_NONE or q * r.factor[day, s] < 1.0 - 1e-9:
                if b.slot_cash[s] > 0 and cause in (BLOCK_LOT, BLOCK_NONE):
                    b.counts[COUNT_DROPPED] += 1
                continue
        elif cause != BLOCK_NONE:
            wait_nb(b, s, cause)
            continue
        cost = trade_cost_nb(SIDE_BUY, q, price, day, s, r, p)
        b.cash[0] -= q * price + cost
        if b.cash[0] < 0.0:  # rounding of the last digits only (sized net of costs)
            b.cash[0] = 0.0
        b.slot_cash[s] -= q * price + cost
        costs[day] += cost
        if flag != FLAG_NONE:
            b.counts[COUNT_FLAG0 + flag] += 1
        why = REASON_REBALANCE if top_up else b.reason[s]
        b.counts[COUNT_TRADES] = _record_nb(
            trades,
            b.counts[COUNT_TRADES],
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
            flag,
            r.factor[day, s],
        )
        b.shares[s] += q
        b.bought_day[s] = day
        b.blocked_by[s] = BLOCK_NONE
        b.waited[s] = 0


@njit(cache=True)
def mark_nb(b: Book, close_px, tradable, day) -> float:
    """Update last traded closes at the day's close; return the positions' value."""
    value = 0.0
    for s in range(b.shares.shape[0]):
        if tradable[day, s] and np.isfinite(close_px[day, s]):
            b.last_close[s] = close_px[day, s]
        if b.shares[s] > 0:
            value += b.shares[s] * b.last_close[s]
    return value


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
    r: Rules,
    p: CostParams,
    trades,
    shares_out,
):
    """Simulate one strategy; fill `trades` (a TRADE_DTYPE array) and `shares_out` if sized.

    Returns:
        (n_trades, nav, cash, position_value, costs, counts, ruined_day): the number of trades
        (it may exceed `len(trades)`, then only the first ones were written and the caller
        reruns with room), daily nav / cash / position value / costs `(T,)`, the counters
        (`COUNT_*`) and the first day whose NAV reached zero (-1: never); from then on the
        strategy does not trade.
    """
    n_days, n_stocks = close_px.shape
    record_positions = shares_out.shape[0] == n_days
    b = new_book_nb(n_stocks, p.initial_capital)
    nav = np.zeros(n_days)
    cash = np.zeros(n_days)
    value = np.zeros(n_days)
    costs = np.zeros(n_days)
    m = 0  # next allocation
    ruined_day = -1
    for day in range(n_days):
        while m < alloc_day.shape[0] and alloc_day[m] < day:
            m += 1  # allocations after ruin are skipped
        if ruined_day < 0:
            settle_delisted_nb(b, trades, costs, day, delist_day, r, p)
            for session in range(2):
                instr = instr_open if session == SESSION_OPEN else instr_close
                px = open_px if session == SESSION_OPEN else close_px
                is_alloc = (
                    m < alloc_day.shape[0] and alloc_day[m] == day and alloc_session[m] == session
                )
                take_instructions_nb(b, instr, day, session, is_alloc, month_end)
                sell_unwanted_nb(b, trades, costs, instr, px, tradable, day, session, r, p)
                if is_alloc:
                    allocate_nb(b, trades, costs, members[m], px, tradable, day, session, r, p)
                    m += 1
                buy_wanted_nb(b, trades, costs, instr, px, tradable, day, session, is_alloc, r, p)
        value[day] = mark_nb(b, close_px, tradable, day)
        if record_positions:
            for s in range(n_stocks):
                shares_out[day, s] = b.shares[s]
        cash[day] = b.cash[0]
        nav[day] = cash[day] + value[day]
        if ruined_day < 0 and nav[day] <= RUIN_FRACTION * p.initial_capital:
            ruined_day = day
    return b.counts[COUNT_TRADES], nav, cash, value, costs, b.counts, ruined_day


@njit(cache=True, parallel=True)
def simulate_batch_nb(
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
    r: Rules,
    p: CostParams,
    trades,
    shares_out,
):
    """Simulate V variants of a strategy over the same market in one call.

    The variant axis leads: `instr_open`, `instr_close` `(V, T, N)`, `alloc_day`,
    `alloc_session` `(V, M)` (a variant with fewer allocations pads with `T`, a day never
    reached), `members` `(V, M, N)`, `trades` `(V, C)` (C may be 0: counts only) and
    `shares_out` `(V, T, N)` or `(V, 0, 0)`. Each variant runs `simulate_nb` on its own book,
    so its result equals a single run's exactly; variants run in parallel threads.

    Returns:
        (n_trades, nav, cash, position_value, costs, counts, ruined_day) with a leading `(V,)`.
    """
    n_var = instr_open.shape[0]
    n_days = close_px.shape[0]
    n_trades = np.zeros(n_var, dtype=np.int64)
    nav = np.zeros((n_var, n_days))
    cash = np.zeros((n_var, n_days))
    value = np.zeros((n_var, n_days))
    costs = np.zeros((n_var, n_days))
    counts = np.zeros((n_var, N_COUNTS), dtype=np.int64)
    ruined = np.full(n_var, -1, dtype=np.int64)
    for v in prange(n_var):
        n, nav_v, cash_v, value_v, costs_v, counts_v, ruined_v = simulate_nb(
            open_px,
            close_px,
            tradable,
            instr_open[v],
            instr_close[v],
            month_end,
            delist_day,
            alloc_day[v],
            alloc_session[v],
            members[v],
            r,
            p,
            trades[v],
            shares_out[v],
        )
        n_trades[v] = n
        nav[v] = nav_v
        cash[v] = cash_v
        value[v] = value_v
        costs[v] = costs_v
        counts[v] = counts_v
        ruined[v] = ruined_v
    return n_trades, nav, cash, value, costs, counts, ruined
