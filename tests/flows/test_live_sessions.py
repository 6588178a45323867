"""Every session processed, in order, and committed as one; each dataset its own live state.

Measured before (issue 21): a session skipped by a server error was never made up (the next
day ran green with a hole in the book and in the LSTM's history); a failure in the book step
came after that day's timing state, signals and orders were written; a second dataset in the
same data home "kept" the first one's published month and shared its book.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.daily_timing import DailyParams, MissedSessionsError, daily_timing_flow
from cnnlstm.flows.monthly_selection import MonthlyParams, monthly_selection_flow
from cnnlstm.flows.params import DataParams, LstmWindowParams, ResearchParams, TrackingParams
from cnnlstm.infra.champion import NoChampionError
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.live.book_store import BookStore
from cnnlstm.tasks.live.files import (
    live_dir,
    orders_path,
    read_state,
    selection_path,
    signals_path,
)
from cnnlstm.tasks.strategy.strategies import StrategySet, run_strategies
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
JUNE_28, JULY_1, JULY_2, JULY_3 = (date(2013, 6, 28), date(2013, 7, 1), date(2013, 7, 2),
                                   date(2013, 7, 3))  # fmt: skip


def _days(key: str) -> list[date]:
    return [date.fromisoformat(d) for d in read_state(key).get("days", [])]


def test_missed_sessions_are_made_up_in_order_and_a_failed_session_commits_nothing(
    tiny_data, tiny_protocol, mlflow_tmp, tmp_path
):
    research = ResearchParams(
        data=tiny_data, protocol=tiny_protocol, cnn=CnnTrainConfig(epochs=1),
        lstm=LstmTrainConfig(epochs=1), lstm_windows=LstmWindowParams(max_windows_per_month=40),
        tracking=TrackingParams(experiment="t-sessions"),
    )  # fmt: skip
    assert backtest_flow(research).tracked.promoted
    key = DailyParams(data=tiny_data).dataset_key()
    monthly_selection_flow(MonthlyParams(data=tiny_data, as_of=JUNE_28))
    daily_timing_flow(DailyParams(data=tiny_data, as_of=JUNE_28))
    daily_timing_flow(DailyParams(data=tiny_data, as_of=JULY_1))
    # 2013-07-02 is missed (a 503 from the server, a worker down)
    with pytest.raises(MissedSessionsError, match="sessions 2013-07-02 were never processed"):
        daily_timing_flow(DailyParams(data=tiny_data, as_of=JULY_3, catch_up=False))

    # the book step fails (a book holding another dataset): nothing of the session is kept
    foreign = f"sqlite:///{tmp_path / 'foreign.sqlite'}"
    other = BookStore(foreign, "another-dataset")
    with other.engine.begin() as conn:
        other._claim(conn)
    before = read_state(key)
    with pytest.raises(Exception, match="holds dataset another-dataset"):
        daily_timing_flow(DailyParams(data=tiny_data, as_of=JULY_3, book_url=foreign))
    assert read_state(key) == before and _days(key)[-1] == JULY_1
    assert not signals_path(key, JULY_2).exists() and not orders_path(key, JULY_2).exists()
    assert not list(live_dir(key).glob(".*.tmp"))

    # the next run for "today" processes the missed day first, then today
    out = daily_timing_flow(DailyParams(data=tiny_data, as_of=JULY_3))
    assert out.processed == [JULY_2, JULY_3] and out.day == JULY_3
    assert _days(key) == [JUNE_28, JULY_1, JULY_2, JULY_3]
    store = BookStore(dataset=key)
    assert store.navs()["day"].to_list() == [JUNE_28, JULY_1, JULY_2, JULY_3]
    assert all(len(h) == 4 for h in read_state(key)["history"].values())

    # the caught-up book equals the backtest kernel, trade for trade, in real shares
    selection = pl.read_parquet(selection_path(key, JULY_1)).select("month", "symbol")
    signals = pl.concat([pl.read_parquet(p) for p in sorted(live_dir(key).glob("signals-*"))])
    bars = load_source("sim", **tiny_data.sim.model_dump()).bars
    july_last = date(2013, 7, 31)  # the month runs on: July 3rd is not its last session
    full = run_strategies(
        bars.filter(pl.col("date") <= july_last),
        StrategySet(universe=selection, cnn=selection, signals=signals),
        MarketConfig.preset("cn"), start=JULY_1, end=july_last,
        hold_days=research.protocol.hold_days, execution=research.protocol.execution,
    ).result  # fmt: skip
    ledger = full.trades.filter((pl.col("strategy") == "cnn_lstm") & (pl.col("date") <= JULY_3))
    ledger = ledger.select(
        pl.col("date").alias("day"), "symbol", "side", "session",
        pl.col("raw_price").alias("price"), pl.col("raw_shares").alias("shares"),
    ).sort("day", "symbol", "side", "session")  # fmt: skip
    booked = store.fills().select(ledger.columns).sort("day", "symbol", "side", "session")
    assert booked.height > 0 and booked.equals(ledger)
    assert ((booked.filter(pl.col("side") == "buy")["shares"].round(6) % 100) == 0).all()
    for order in out.orders:  # the next session's orders: real shares, whole lots
        if order["side"] == "buy":
            assert order["shares"] % 100 == 0

    # the monthly run after a missed month end publishes every missed month, in order
    late = monthly_selection_flow(MonthlyParams(data=tiny_data, as_of=date(2013, 8, 30)))
    assert late.published == [date(2013, 8, 1), date(2013, 9, 1)]
    assert selection_path(key, date(2013, 8, 1)).exists()

    # a second dataset in the same data home: no champion of its own -> red, nothing kept
    second = DataParams(source="sim", sim=tiny_data.sim.model_copy(update={"seed": 11}))
    assert DailyParams(data=second).dataset_key() != key
    with pytest.raises(NoChampionError):
        monthly_selection_flow(MonthlyParams(data=second, as_of=JUNE_28))
    second_key = DailyParams(data=second).dataset_key()
    assert not selection_path(second_key, JULY_1).exists()
    assert BookStore(dataset=second_key).navs().height == 0  # its own (empty) book
    assert store.navs().height == 4
