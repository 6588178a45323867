"""A month of the simulated market replayed through the live flows matches the backtest.

The schedule's order on each session: after the month's last session the monthly selection
publishes the next month, then the daily timing decides and keeps the paper book. Over July
2013 the book's fills and NAV must equal the backtest's CNN-LSTM ledger for the same selection
and the signals the live flows decided.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.daily_timing import DailyParams, daily_timing_flow
from cnnlstm.flows.live import session_calendar
from cnnlstm.flows.monthly_selection import MonthlyParams, monthly_selection_flow
from cnnlstm.flows.params import LstmWindowParams, ResearchParams, TrackingParams
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.live.book_store import BookStore
from cnnlstm.tasks.live.files import live_dir, selection_path
from cnnlstm.tasks.strategy.strategies import StrategySet, run_strategies
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
JULY = date(2013, 7, 1)


def test_a_month_through_the_live_flows_matches_the_backtest(tiny_data, tiny_protocol, mlflow_tmp):
    research = ResearchParams(
        data=tiny_data,
        protocol=tiny_protocol,
        cnn=CnnTrainConfig(epochs=1),
        lstm=LstmTrainConfig(epochs=1),
        lstm_windows=LstmWindowParams(max_windows_per_month=40),
        tracking=TrackingParams(experiment="t-replay"),
    )
    assert backtest_flow(research).tracked.promoted
    cal = session_calendar(tiny_data, "cn")
    rebalance = cal.previous_session(JULY)
    sessions = [rebalance, *cal.sessions(JULY, cal.month_last_session(JULY))]
    for day in sessions:
        if cal.is_month_last_session(day):
            monthly_selection_flow(MonthlyParams(data=tiny_data, as_of=day))
        out = daily_timing_flow(DailyParams(data=tiny_data, as_of=day))
        assert out.book is not None and out.book.reconciled, day

    key = DailyParams(data=tiny_data).dataset_key()
    selection = pl.read_parquet(selection_path(key, JULY)).select("month", "symbol")
    signals = pl.concat(
        [pl.read_parquet(p) for p in sorted(live_dir(key).glob("signals-*.parquet"))]
    )
    bars = load_source("sim", **tiny_data.sim.model_dump()).bars
    full = run_strategies(
        bars.filter(pl.col("date") <= sessions[-1]),
        StrategySet(universe=selection, cnn=selection, signals=signals),
        MarketConfig.preset("cn"), start=JULY, end=sessions[-1],
        hold_days=research.protocol.hold_days, execution=research.protocol.execution,
    ).result  # fmt: skip
    ledger = full.trades.filter((pl.col("strategy") == "cnn_lstm") & (pl.col("date") >= JULY))
    ledger = ledger.with_columns(price=pl.col("raw_price"), shares=pl.col("raw_shares"))
    store = BookStore(dataset=key)
    cols = ["symbol", "side", "session", "price", "shares", "cost"]
    booked = store.fills().rename({"day": "date"}).select("date", *cols).sort("date", *cols)
    assert booked.height > 0
    assert booked.equals(ledger.select("date", *cols).sort("date", *cols))
    navs = store.navs().filter(pl.col("day") >= JULY)["nav"].to_list()
    nav = full.nav.filter((pl.col("strategy") == "cnn_lstm") & (pl.col("date") >= JULY))
    assert navs == pytest.approx((nav["nav"] * 1_000_000.0).to_list(), rel=1e-12)
