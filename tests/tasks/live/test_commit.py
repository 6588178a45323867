"""A session is stored as one: a refused book leaves every file and the state as they were."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.live import files
from cnnlstm.tasks.live.book import BookDay
from cnnlstm.tasks.live.book_store import BookStore
from cnnlstm.tasks.live.commit import commit_session
from cnnlstm.tasks.live.orders import TimingState

D1, D2 = date(2013, 7, 1), date(2013, 7, 2)
DECIDED = pl.DataFrame({"symbol": ["A"], "date": [D2], "signal": [1]}, schema=files.SIGNALS_SCHEMA)
ORDERS = pl.DataFrame(
    {"trade_date": [date(2013, 7, 3)], "symbol": ["A"], "side": ["buy"], "session": ["open"],
     "shares": [100.0], "reason": ["signal +1 while flat"]},
)  # fmt: skip


def _day(day: date) -> BookDay:
    return BookDay(
        day=day, nav=100.0, cash=100.0, position_value=0.0, costs_to_date=0.0, pnl=0.0,
        fills=[], positions=[],
    )  # fmt: skip


def _state(*days: date) -> TimingState:
    return TimingState(month=D1, days=list(days), history={"A": [1] * len(days)})


def test_a_refused_book_day_leaves_the_state_and_writes_no_file(tmp_path):
    store = BookStore(f"sqlite:///{tmp_path / 'book.sqlite'}", "ds")
    commit_session(
        "ds", D2, decided=DECIDED, orders=ORDERS, state=_state(D1, D2), dropped=[],
        book=(store, _day(D2)),
    )  # fmt: skip
    before = files.state_path("ds").read_text()
    with pytest.raises(UserInputError, match="rebuild=True"):  # D1 is before the book's D2
        commit_session(
            "ds", D1, decided=DECIDED, orders=ORDERS, state=_state(D1), dropped=[D2],
            book=(store, _day(D1)),
        )  # fmt: skip
    assert files.state_path("ds").read_text() == before
    assert not files.orders_path("ds", D1).exists() and files.orders_path("ds", D2).exists()
    assert [p.name for p in files.live_dir("ds").iterdir() if p.name.endswith(".tmp")] == []


def test_a_rebuild_withdraws_the_later_days_and_moves_the_state_last(tmp_path):
    store = BookStore(f"sqlite:///{tmp_path / 'book.sqlite'}", "ds")
    for day, state in ((D1, _state(D1)), (D2, _state(D1, D2))):
        commit_session(
            "ds", day, decided=DECIDED, orders=ORDERS, state=state, dropped=[],
            book=(store, _day(day)),
        )  # fmt: skip
    dropped = commit_session(
        "ds", D1, decided=DECIDED, orders=ORDERS, state=_state(D1), dropped=[D2],
        book=(store, _day(D1)), rebuild=True,
    )  # fmt: skip
    assert dropped == [D2] and files.timing_state("ds").days == [D1]
    assert not files.orders_path("ds", D2).exists() and not files.signals_path("ds", D2).exists()
