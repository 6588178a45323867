from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.strategy.timing import held_states, timing_plan

D = [date(2020, 1, 31), date(2020, 2, 3), date(2020, 2, 4), date(2020, 2, 5), date(2020, 2, 6)]
FEB = date(2020, 2, 1)


def test_state_machine_buy_reset_countdown_and_sell():
    s = [1, -1, -1, 1, -1, -1, -1, -1, -1, -1]
    # buy(5) 4 3 reset(5) 4 3 2 1 0=sell, flat stays flat
    assert held_states(s, hold_days=5).tolist() == [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]


def test_state_machine_flat_stays_flat_and_short_hold():
    assert held_states([-1, -1, 1, -1, -1], hold_days=2).tolist() == [0, 0, 1, 1, 0]
    assert held_states([1, 1, -1], hold_days=1).tolist() == [1, 1, 0]


def test_no_buy_after_last_buy_step():
    assert held_states([-1, 1, 1], last_buy_step=1).tolist() == [0, 1, 1]
    assert held_states([-1, -1, 1], last_buy_step=1).tolist() == [0, 0, 0]


def test_bad_signal_raises():
    with pytest.raises(UserInputError, match=r"\+1 or -1"):
        held_states([1, 0])


def _signals(values):
    return pl.DataFrame({"symbol": ["A"] * len(values), "date": D[: len(values)], "signal": values})


def test_plan_open_mode_shifts_decisions_to_next_open():
    sel = pl.DataFrame({"month": [FEB], "symbol": ["A"]})
    plan, missing = timing_plan(sel, _signals([-1, 1, -1, -1]), D, hold_days=2)
    # decisions on Jan 31, Feb 3, 4, 5 execute at the opens of Feb 3, 4, 5, 6
    assert plan["date"].to_list() == D[1:]
    assert plan["hold"].to_list() == [False, True, True, False]
    assert missing == 0


def test_plan_close_mode_executes_same_day_and_counts_missing():
    sel = pl.DataFrame({"month": [FEB], "symbol": ["A"]})
    plan, missing = timing_plan(sel, _signals([1, -1]), D, execution="close", hold_days=5)
    assert plan["date"].to_list() == D[:4]
    assert plan["hold"].to_list() == [True, True, True, True]  # missing days count as -1
    assert missing == 2


def test_plan_open_mode_never_buys_at_the_last_open():
    sel = pl.DataFrame({"month": [FEB], "symbol": ["A"]})
    plan, _ = timing_plan(sel, _signals([-1, -1, -1, 1]), D)
    assert plan["hold"].to_list() == [False, False, False, False]


def test_duplicate_signals_raise():
    sel = pl.DataFrame({"month": [FEB], "symbol": ["A"]})
    with pytest.raises(UserInputError, match="duplicate"):
        timing_plan(sel, pl.concat([_signals([1]), _signals([-1])]), D)
