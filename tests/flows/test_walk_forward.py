from __future__ import annotations

from datetime import date

import pytest

from cnnlstm.flows.params import Period, Protocol, ResearchParams, TrackingParams
from cnnlstm.flows.runners import TaskRunnerConfig
from cnnlstm.flows.walk_forward import (
    WalkForwardOutcome,
    WalkForwardParams,
    history_before,
    month_period,
    month_starts,
    walk_forward_flow,
    walk_forward_plan,
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


def test_the_plan_has_a_fold_per_month_and_an_lstm_block_every_k_months(tiny_data):
    research = ResearchParams(
        data=tiny_data,
        protocol=Protocol(
            train=Period(start=date(2011, 3, 1), end=date(2012, 12, 31)),  # ignored here
            test=Period(start=date(2013, 1, 1), end=date(2013, 3, 20)),
        ),
    )
    plan = walk_forward_plan(WalkForwardParams(research=research, train_months=18, lstm_every=2))
    assert [f.name for f in plan.folds] == ["2013-01", "2013-02", "2013-03"]
    assert [f.block for f in plan.folds] == [0, 0, 1]
    assert [b.name for b in plan.blocks] == ["2013-01", "2013-03"]
    assert plan.folds[1].cnn_train == history_before(date(2013, 2, 1), 18)
    assert plan.blocks[1].train == history_before(date(2013, 3, 1), 18)
    assert plan.folds[2].test == Period(start=date(2013, 3, 1), end=date(2013, 3, 20))
    assert plan.protocol.train == history_before(date(2013, 1, 1), 18)
    assert plan.protocol.test == research.protocol.test and plan.ingest_span is None


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
    assert isinstance(out, WalkForwardOutcome)  # typed, like the backtest's outcome
    trained = sorted(k for k in out.stages if k.startswith(("train_cnn", "train_lstm")))
    assert trained == [
        "train_cnn 2013-01", "train_cnn 2013-02", "train_cnn 2013-03",
        "train_lstm 2013-01", "train_lstm 2013-03",
    ]  # fmt: skip
    assert out.months == 3 and out.lstm_trainings == 2 and out.seeds == [0]
    assert len(out.networks) == 5 and out.tracked is not None
    assert "| Annualized return, net of costs |" in out.table2 and out.mlflow_run
    for section in (
        "### Null baselines",
        "| random_timing |",
        "### CNN score deciles",
        "EW universe index, monthly rebalanced",
        "### Qlib-convention rows",
    ):
        assert section in out.table2, section  # the baselines reach walk-forward's report
    again = walk_forward_flow(params)
    recomputed = [k for k, v in again.stages.items() if v != "Cached"]
    assert set(again.stages.values()) == {"Cached"}, recomputed
