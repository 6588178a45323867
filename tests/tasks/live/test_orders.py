from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.live.orders import (
    EarlierDayError,
    TimingState,
    decision_month,
    next_session_orders,
    record_decisions,
)
from cnnlstm.tasks.strategy.timing import timing_plan

JULY = date(2013, 7, 1)


def test_record_decisions_is_idempotent_and_refuses_an_earlier_day():
    s0 = TimingState()
    s1, _ = record_decisions(s0, month=JULY, day=date(2013, 7, 1), symbols=["A"], signals={"A": 1})
    s2, _ = record_decisions(s1, month=JULY, day=date(2013, 7, 2), symbols=["A"], signals={"A": -1})
    again, dropped = record_decisions(
        s2, month=JULY, day=date(2013, 7, 2), symbols=["A"], signals={"A": -1}
    )
    assert again == s2 and dropped == []
    with pytest.raises(EarlierDayError, match="rebuild=True"):
        record_decisions(s2, month=JULY, day=date(2013, 7, 1), symbols=["A"], signals={"A": 1})
    rebuilt, dropped = record_decisions(
        s2, month=JULY, day=date(2013, 7, 1), symbols=["A"], signals={"A": -1}, rebuild=True
    )
    assert rebuilt.days == [date(2013, 7, 1)] and rebuilt.history == {"A": [-1]}
    assert dropped == [date(2013, 7, 2)]
    # a symbol without a signal decides -1; one selected late is flat before
    s3, _ = record_decisions(s2, month=JULY, day=date(2013, 7, 3), symbols=["A", "B"], signals={})
    assert s3.history == {"A": [1, -1, -1], "B": [-1, -1, -1]}


def test_buys_sized_by_the_backtests_rule_in_whole_lots():
    history = {"A": [1], "B": [-1]}
    orders = next_session_orders(
        ["A", "B"], history, trade_date=date(2013, 7, 2), closes={"A": 9.9}, capital=20_000,
        market=MarketConfig.preset("cn"),
    )  # fmt: skip
    # a 10,000 slot buys 1,000 shares (10 lots of 100) at 9.9; costs come out of the slot
    assert orders.select("symbol", "side", "session", "shares").rows() == [
        ("A", "buy", "open", 1000.0)
    ]
    assert 0 < orders["cost"][0] < 100


def test_month_last_session_orders_no_buy_and_close_everything():
    history = {"A": [1, -1], "B": [-1, 1], "C": [-1, -1]}
    orders = next_session_orders(
        ["A", "B", "C"], history, trade_date=date(2013, 7, 31), month_last=True
    )
    # A held (days left 4) -> sold at the close; B's +1 may not open at the last session
    assert orders.select("symbol", "side", "session").rows() == [("A", "sell", "close")]


def test_decision_month_turns_at_the_last_session():
    assert decision_month(date(2013, 7, 30), date(2013, 7, 31)) == JULY
    assert decision_month(date(2013, 7, 31), date(2013, 7, 31)) == date(2013, 8, 1)
    assert decision_month(date(2013, 12, 31), date(2013, 12, 31)) == date(2014, 1, 1)


def test_live_orders_replay_the_backtest_timing_plan():
    """Day by day, the live orders hold exactly what `timing_plan` holds at each execution."""
    rng = np.random.default_rng(0)
    june_last = date(2013, 6, 28)
    july = [d for d in (date(2013, 7, k) for k in range(1, 32)) if d.weekday() < 5]
    calendar = [june_last, *july, date(2013, 8, 1)]
    symbols = ["A", "B", "C"]
    decisions = [june_last, *july[:-1]]  # D_0 .. D_{L-1}
    signals = {(s, d): int(rng.choice([1, -1])) for s in symbols for d in decisions}
    frame = pl.DataFrame(
        [(s, d, v) for (s, d), v in signals.items()],
        schema={"symbol": pl.String, "date": pl.Date, "signal": pl.Int8},
        orient="row",
    )
    selection = pl.DataFrame({"month": [JULY] * 3, "symbol": symbols})
    plan, missing = timing_plan(selection, frame, calendar, execution="open", hold_days=3)
    assert missing == 0
    expected = {(r["symbol"], r["date"]): r["hold"] for r in plan.iter_rows(named=True)}

    state, held = TimingState(), dict.fromkeys(symbols, False)
    for i, day in enumerate(decisions):
        trade_date = july[i]
        state, _ = record_decisions(
            state, month=JULY, day=day, symbols=symbols,
            signals={s: signals[(s, day)] for s in symbols},
        )  # fmt: skip
        orders = next_session_orders(
            symbols, state.history, trade_date=trade_date, hold_days=3,
            month_last=trade_date == july[-1],
        )  # fmt: skip
        for row in orders.filter(pl.col("session") == "open").iter_rows(named=True):
            held[row["symbol"]] = row["side"] == "buy"
        for s in symbols:
            assert held[s] == expected[(s, trade_date)], (s, trade_date)
        closing = orders.filter(pl.col("session") == "close")
        if trade_date == july[-1]:
            assert sorted(closing["symbol"]) == sorted(s for s in symbols if held[s])
        else:
            assert closing.height == 0
