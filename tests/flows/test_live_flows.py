from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.daily_timing import DailyParams, daily_timing_flow
from cnnlstm.flows.live import read_state
from cnnlstm.flows.monthly_selection import MonthlyParams, monthly_selection_flow
from cnnlstm.flows.params import ResearchParams, TrackingParams
from cnnlstm.tasks.daily_orders import daily_orders
from cnnlstm.tasks.train import CnnTrainConfig, LstmTrainConfig

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_daily_orders_follow_the_held_days_rule():
    history = {"A": [1], "B": [1, -1], "C": [-1, -1], "D": [1, -1, -1, -1, -1, -1]}
    orders = daily_orders(
        ["A", "B", "C", "D"], history, hold_days=5, closes={"A": 10.0}, capital=1000
    )
    assert orders.select("symbol", "side").rows() == [("A", "buy"), ("D", "sell")]
    assert orders.filter(pl.col("symbol") == "A")["shares"][0] == 25.0  # 1000 / 4 slots / 10
    closing = daily_orders(["A", "B", "C"], history, month_end=True)
    assert closing.select("symbol", "side").rows() == [("A", "sell"), ("B", "sell")]


@pytest.mark.slow  # a backtest to register the models, then a month's selection and two days
def test_monthly_selection_then_daily_timing(tiny_data, tiny_protocol, mlflow_tmp):
    research = ResearchParams(
        data=tiny_data,
        protocol=tiny_protocol,
        cnn=CnnTrainConfig(epochs=1),
        lstm=LstmTrainConfig(epochs=1),
        lstm_windows={"max_windows_per_month": 40},
        tracking=TrackingParams(experiment="t-live"),
    )
    assert backtest_flow(research).tracked.promoted  # the first challenger becomes champion

    with pytest.raises(UserInputError, match="no selection published"):
        daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 7, 1)))

    picked = monthly_selection_flow(MonthlyParams(data=tiny_data, as_of=date(2013, 6, 28)))
    assert picked["month"] == date(2013, 7, 1) and picked["model_source"] == "@champion"
    assert len(picked["symbols"]) >= 1

    weekend = daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 7, 6)))
    assert weekend["skipped"]
    first = daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 7, 1)))
    assert not first["skipped"] and set(first["signals"]) <= set(picked["symbols"])
    assert all(o["side"] == "buy" for o in first["orders"])  # the month starts flat
    daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 7, 2)))
    again = daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 7, 2)))  # a re-run
    state = read_state()
    assert state["days"] == ["2013-07-01", "2013-07-02"]
    assert all(len(h) == 2 for h in state["history"].values())
    assert not again["skipped"]
