from __future__ import annotations

from datetime import date

import pytest
from mlflow import MlflowClient

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.daily_timing import DailyParams, daily_timing_flow
from cnnlstm.flows.monthly_selection import MonthlyParams, monthly_selection_flow
from cnnlstm.flows.params import LstmWindowParams, ResearchParams, TrackingParams
from cnnlstm.infra import tracking
from cnnlstm.tasks.live.files import orders_path, read_state
from cnnlstm.tasks.live.orders import EarlierDayError
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.mark.slow  # a backtest to register the models, then a month's selection and three days
def test_monthly_selection_then_daily_timing(tiny_data, tiny_protocol, mlflow_tmp):
    research = ResearchParams(
        data=tiny_data,
        protocol=tiny_protocol,
        cnn=CnnTrainConfig(epochs=1),
        lstm=LstmTrainConfig(epochs=1),
        lstm_windows=LstmWindowParams(max_windows_per_month=40),
        tracking=TrackingParams(experiment="t-live"),
    )
    assert backtest_flow(research).tracked.promoted  # the first challenger becomes champion

    with pytest.raises(UserInputError, match="no selection published"):
        daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 7, 1)))

    picked = monthly_selection_flow(MonthlyParams(data=tiny_data, as_of=date(2013, 6, 28)))
    assert picked.month == date(2013, 7, 1) and picked.model_source == "@champion"
    assert picked.rebalance_date == date(2013, 6, 28) and len(picked.symbols) >= 1
    kept = monthly_selection_flow(MonthlyParams(data=tiny_data, as_of=date(2013, 6, 28)))
    assert kept.model_source == "published" and kept.symbols == picked.symbols
    again = monthly_selection_flow(
        MonthlyParams(data=tiny_data, as_of=date(2013, 6, 28), replace=True)
    )
    assert again.symbols == picked.symbols  # scored and selected from the cache, published again
    assert again.stages["live_scores 2013-07"] == again.stages["live_selection 2013-07"] == "Cached"
    assert again.stages["publish_month 2013-07"] == "Completed"

    # the rebalance date's decision is July's first; it trades at July 1st's open
    first = daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 6, 28)))
    assert first.decision_month == date(2013, 7, 1) and first.trade_date == date(2013, 7, 1)
    assert set(first.signals) <= set(picked.symbols)
    assert all(o["side"] == "buy" and o["session"] == "open" for o in first.orders)
    daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 7, 1)))
    again = daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 7, 1)))  # a re-run
    key = DailyParams(data=tiny_data).dataset_key()
    state = read_state(key)
    assert state["days"] == ["2013-06-28", "2013-07-01"]
    assert all(len(h) == 2 for h in state["history"].values())
    assert again.status == "orders" and orders_path(key, date(2013, 7, 1)).exists()
    # the session is a chain of stages; a re-run of the day takes the signals and the order
    # sizing from the cache (same bars, same model, same history), and re-records the decisions
    # on the state that now holds the day (before: one opaque function, nothing cached)
    day = " 2013-07-01"
    assert again.stages[f"live_signals{day}"] == again.stages[f"live_orders{day}"] == "Cached"
    assert again.stages[f"live_decisions{day}"] == "Completed"
    assert again.stages[f"book_session{day}"] == again.stages[f"commit_session{day}"] == "Completed"
    assert (
        again.orders
        == daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 7, 1))).orders
    )

    with pytest.raises(EarlierDayError, match="rebuild=True"):
        daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 6, 28)))
    rebuilt = daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 6, 28), rebuild=True))
    assert rebuilt.dropped_days == [date(2013, 7, 1)]
    assert not orders_path(key, date(2013, 7, 1)).exists()  # its orders are withdrawn
    assert read_state(key)["days"] == ["2013-06-28"]


@pytest.mark.slow  # trains a one-epoch CNN on the spot
def test_a_retrained_cnn_is_registered_once_per_checkpoint(tiny_data, mlflow_tmp):
    """Before: each retraining run registered its checkpoint again, so the one CNN a cached
    training gave became a new registry version on every run."""
    params = MonthlyParams(
        data=tiny_data,
        as_of=date(2013, 6, 28),
        retrain=True,
        train_months=24,
        cnn=CnnTrainConfig(epochs=1),
    )
    first = monthly_selection_flow(params)
    second = monthly_selection_flow(params.model_copy(update={"replace": True}))
    assert first.model_source == second.model_source == "retrained"
    assert second.stages["train_cnn"] == "Cached" and first.model == second.model
    name = params.registered_name("cnn")
    assert len(MlflowClient().search_model_versions(f"name='{name}'")) == 1
    assert tracking.alias_version(name) is None  # a challenger, never promoted here
