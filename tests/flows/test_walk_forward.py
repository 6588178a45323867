from __future__ import annotations

from datetime import date

import pytest

from cnnlstm.flows.params import Period, Protocol, ResearchParams, TrackingParams
from cnnlstm.flows.runners import TaskRunnerConfig
from cnnlstm.flows.walk_forward import (
    WalkForwardParams,
    history_before,
    month_period,
    month_starts,
    walk_forward_flow,
)
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig


def test_month_arithmetic_never_reaches_into_the_month_it_trains_for():
    assert month_starts(Period(start=date(2013, 1, 15), end=date(2013, 4, 2))) == [
        date(2013, 2, 1), date(2013, 3, 1), date(2013, 4, 1),
    ]  # fmt: skip
    assert history_before(date(2013, 3, 1), 12) == Period(
        start=date(2012, 3, 1), end=date(2013, 2, 28)
    )
    assert month_period(date(2013, 4, 1), date(2013, 4, 2)) == Period(
        start=date(2013, 4, 1), end=date(2013, 4, 2)
    )


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.slow  # 3 CNN and 2 LSTM trainings on the tiny market
def test_walk_forward_retrains_monthly_and_runs_months_concurrently(tiny_data, mlflow_tmp):
    research = ResearchParams(
        data=tiny_data,
        protocol=Protocol(
            train=Period(start=date(2011, 3, 1), end=date(2012, 12, 31)),
            test=Period(start=date(2013, 1, 1), end=date(2013, 3, 31)),
        ),
        cnn=CnnTrainConfig(epochs=1),
        lstm=LstmTrainConfig(epochs=1),
        lstm_windows={"max_windows_per_month": 30},
        tracking=TrackingParams(experiment="t-walk-forward", register_models=False),
    )
    params = WalkForwardParams(
        research=research,
        train_months=18,
        lstm_every=2,
        task_runner=TaskRunnerConfig(max_workers=2),
    )
    out = walk_forward_flow(params)
    trained = sorted(k for k in out["stages"] if k.startswith(("train_cnn", "train_lstm")))
    assert trained == [
        "train_cnn 2013-01", "train_cnn 2013-02", "train_cnn 2013-03",
        "train_lstm 2013-01", "train_lstm 2013-03",
    ]  # fmt: skip
    assert out["months"] == 3 and out["lstm_trainings"] == 2
    assert "| Annualized return, net of costs |" in out["table2"] and out["mlflow_run"]
    for section in (
        "### Null baselines",
        "| random_timing |",
        "### CNN score deciles",
        "EW universe index, monthly rebalanced",
        "### Qlib-convention rows",
    ):
        assert section in out["table2"], section  # the baselines reach walk-forward's report
    again = walk_forward_flow(params)
    recomputed = [k for k, v in again["stages"].items() if v != "Cached"]
    assert set(again["stages"].values()) == {"Cached"}, recomputed
