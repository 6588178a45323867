"""Each step of the kernel's session loop on hand-built state (no polars, no strategies).

As vectorbt's tests do, the book and the market arrays are built by hand and one step of
`simulate_nb`'s loop is run on them: instructions, sells, allocation, buys, delisting, marking,
and the whole loop's ruin rule.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnlstm.tasks.backtest.engine import (
    BLOCK_LIMIT_DOWN,
    BLOCK_SUSPENDED,
    BLOCK_T_PLUS_1,
    COUNT_BLOCK0,
    COUNT_BLOCKED,
    COUNT_TRADES,
    REASON_DELISTED,
    REASON_ENTRY,
    REASON_MONTH_END,
    REASON_REBALANCE,
    REASON_SIGNAL_BUY,
    REASON_SIGNAL_SELL,
    SESSION_CLOSE,
    SESSION_OPEN,
    TRADE_DTYPE,
    CostParams,
    allocate_nb,
    buy_wanted_nb,
    mark_nb,
    new_book_nb,
    plain_rules,
    sell_unwanted_nb,
    settle_delisted_nb,
    simulate_nb,
    take_instructions_nb,
)

FREE = CostParams(0.0, 0.0, 0.0, False, 0.01, 0.0, 1000.0)
T, N = 3, 2


def _state(capital=1000.0):
    book = new_book_nb(N, capital)
    trades = np.zeros(16, dtype=TRADE_DTYPE)
    costs = np.zeros(T)
    return book, trades, costs


def _ones(value=10.0):
    return np.full((T, N), value)


def test_take_instructions_sets_wants_and_reasons():
    b, _, _ = _state()
    instr = np.array([[1, -1], [0, 1], [0, 0]], dtype=np.int8)
    month_end = np.array([False, False, True])
    take_instructions_nb(b, instr, 0, SESSION_OPEN, True, month_end)
    assert b.want.tolist() == [1, 0] and b.reason[0] == REASON_ENTRY
    take_instructions_nb(b, instr, 1, SESSION_OPEN, False, month_end)
    assert b.want.tolist() == [0, 1]
    assert (b.reason[0], b.reason[1]) == (REASON_SIGNAL_SELL, REASON_SIGNAL_BUY)
    b.want[1] = 1
    take_instructions_nb(b, instr, 2, SESSION_CLOSE, False, month_end)
    assert b.reason[1] == REASON_MONTH_END


def test_sell_unwanted_sells_or_waits_with_the_cause():
    b, trades, costs = _state(capital=0.0)
    b.shares[:] = [5.0, 5.0]
    b.want[:] = [0, 0]
    b.last_close[:] = [10.0, 10.0]
    instr = np.zeros((T, N), dtype=np.int8)
    tradable = np.ones((T, N), dtype=np.bool_)
    tradable[0, 1] = False  # stock 1 suspended on day 0
    r = plain_rules(T, N)
    sell_unwanted_nb(b, trades, costs, instr, _ones(11.0), tradable, 0, SESSION_OPEN, r, FREE)
    assert b.shares.tolist() == [0.0, 5.0]
    assert b.cash[0] == pytest.approx(55.0)
    assert b.counts[COUNT_TRADES] == 1 and trades[0]["price"] == 11.0
    assert b.blocked_by[1] == BLOCK_SUSPENDED and b.waited[1] == 1
    assert b.counts[COUNT_BLOCKED] == 1 and b.counts[COUNT_BLOCK0 + BLOCK_SUSPENDED] == 1


def test_sell_waits_at_limit_down_and_under_t_plus_1():
    b, trades, costs = _state(capital=0.0)
    b.shares[:] = [5.0, 5.0]
    b.last_close[:] = [10.0, 10.0]
    b.bought_day[1] = 0
    instr = np.zeros((T, N), dtype=np.int8)
    px = np.array([[9.0, 10.0]] * T)
    r = plain_rules(T, N, band=0.10)
    t1 = FREE._replace(t_plus_1=True)
    tradable = np.ones((T, N), dtype=np.bool_)
    sell_unwanted_nb(b, trades, costs, instr, px, tradable, 0, SESSION_CLOSE, r, t1)
    assert b.counts[COUNT_TRADES] == 0
    assert (b.blocked_by[0], b.blocked_by[1]) == (BLOCK_LIMIT_DOWN, BLOCK_T_PLUS_1)


def test_allocate_splits_value_into_slots_and_trims_in_lots():
    b, trades, costs = _state(capital=400.0)
    b.shares[0] = 100.0  # worth 1,600 at 16: over its slot of (400 + 1600) / 2 = 1000
    b.want[:] = [1, 1]
    b.last_close[:] = [16.0, 10.0]
    members = np.array([True, True])
    tradable = np.ones((T, N), dtype=np.bool_)
    px = np.array([[16.0, 10.0]] * T)
    r = plain_rules(T, N, lot=10.0)
    allocate_nb(b, trades, costs, members, px, tradable, 0, SESSION_OPEN, r, FREE)
    assert b.slot_cash[1] == pytest.approx(1000.0)
    # Excess 600 / 16 = 37.5 shares -> 30 in lots of 10.
    assert trades[0]["shares"] == 30.0 and trades[0]["reason"] == REASON_REBALANCE
    assert b.shares[0] == 70.0 and b.cash[0] == pytest.approx(400 + 480)


def test_buy_wanted_sizes_net_of_costs_in_lots():
    b, trades, costs = _state(capital=1000.0)
    b.want[:] = [1, 1]
    b.has_slot[:] = [True, True]
    b.slot_cash[:] = [500.0, 500.0]
    b.reason[:] = REASON_ENTRY
    instr = np.ones((T, N), dtype=np.int8)
    tradable = np.ones((T, N), dtype=np.bool_)
    px = np.array([[9.0, 60.0]] * T)
    r = plain_rules(T, N, lot=10.0)
    fee = FREE._replace(min_commission=5.0)
    buy_wanted_nb(b, trades, costs, instr, px, tradable, 0, SESSION_OPEN, True, r, fee)
    # Stock 0: (500 - 5) / 9 = 55 -> 50 shares; stock 1: 495 / 60 = 8.25 < one lot: waits.
    assert b.shares.tolist() == [50.0, 0.0]
    assert b.cash[0] == pytest.approx(1000 - 450 - 5)
    assert b.waited[1] == 1 and b.bought_day[0] == 0


def test_settle_delisted_sells_at_last_close_with_costs():
    b, trades, costs = _state(capital=0.0)
    b.shares[1] = 10.0
    b.last_close[1] = 7.0
    r = plain_rules(T, N, stamp_sell=0.001)
    settle_delisted_nb(b, trades, costs, 2, np.array([-1, 2], dtype=np.int64), r, FREE)
    assert trades[0]["reason"] == REASON_DELISTED and trades[0]["price"] == 7.0
    assert b.cash[0] == pytest.approx(70 - 0.07) and b.want[1] == 0


def test_mark_keeps_a_suspended_stock_at_its_last_traded_close():
    b, _, _ = _state(capital=0.0)
    b.shares[:] = [1.0, 2.0]
    b.last_close[:] = [5.0, 6.0]
    close = np.array([[7.0, 100.0]] * T)
    tradable = np.array([[True, False]] * T)
    assert mark_nb(b, close, tradable, 0) == pytest.approx(7.0 + 12.0)
    assert b.last_close.tolist() == [7.0, 6.0]


def test_loop_stops_trading_once_ruined():
    # One stock bought day 0 at 10 for all the cash; it closes at 0 (delisted worthless).
    n_days = 4
    open_px = np.array([[10.0], [1.0], [1.0], [1.0]])
    close_px = np.array([[1e-12], [1.0], [1.0], [1.0]])
    tradable = np.ones((n_days, 1), dtype=np.bool_)
    instr = np.ones((n_days, 1), dtype=np.int8)
    idle = np.full((n_days, 1), -1, dtype=np.int8)
    r = plain_rules(n_days, 1)
    params = FREE._replace(initial_capital=10.0)
    trades = np.zeros(8, dtype=TRADE_DTYPE)
    out = simulate_nb(
        open_px,
        close_px,
        tradable,
        instr,
        idle,
        np.zeros(n_days, dtype=np.bool_),
        np.full(1, -1, dtype=np.int64),
        np.array([0, 2], dtype=np.int64),
        np.zeros(2, dtype=np.int8),
        np.ones((2, 1), dtype=np.bool_),
        r,
        params,
        trades,
        np.zeros((0, 0)),
    )
    n, nav, _cash, _value, _costs, _counts, ruined = out
    assert ruined == 0 and n == 1  # no trade after the ruin (the day-2 allocation is skipped)
    assert nav[0] == pytest.approx(1e-12)
