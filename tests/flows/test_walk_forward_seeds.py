"""Walk-forward with seeds: every (seed, month) CNN and (seed, block) LSTM, the ensemble, MLflow."""

from __future__ import annotations

from datetime import date

import pytest
from mlflow import MlflowClient

from cnnlstm.flows.params import Period, Protocol, ResearchParams, TrackingParams
from cnnlstm.flows.walk_forward import WalkForwardParams, walk_forward_flow
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.slow  # 4 CNN and 2 LSTM trainings on the tiny market
def test_walk_forward_trains_each_seed_reports_over_seeds_and_logs_children(tiny_data, mlflow_tmp):
    research = ResearchParams(
        data=tiny_data,
        protocol=Protocol(
            train=Period(start=date(2011, 3, 1), end=date(2012, 12, 31)),
            test=Period(start=date(2013, 1, 1), end=date(2013, 2, 28)),
        ),
        cnn=CnnTrainConfig(epochs=1),
        lstm=LstmTrainConfig(epochs=1),
        lstm_windows={"max_windows_per_month": 30},
        tracking=TrackingParams(experiment="t-wf-seeds", register_models=False),
        report={"bootstrap_samples": 200, "auc_samples": 100},
        seeds=(0, 1),
    )
    params = WalkForwardParams(research=research, train_months=18, lstm_every=2)
    out = walk_forward_flow(params)
    trained = sorted(k for k in out.stages if k.startswith(("train_cnn", "train_lstm")))
    assert trained == [
        "train_cnn 2013-01 seed 0", "train_cnn 2013-01 seed 1",
        "train_cnn 2013-02 seed 0", "train_cnn 2013-02 seed 1",
        "train_lstm 2013-01 seed 0", "train_lstm 2013-01 seed 1",
    ]  # fmt: skip
    assert {"select 2013-02 ensemble", "signals 2013-01 ensemble", "backtest ensemble"} <= set(
        out.stages
    )
    assert out.seeds == [0, 1] and "over 2 seeds (0, 1)" in out.table2
    assert out.table2.index("### Caveats") < out.table2.index("### Table 2")
    client = MlflowClient(mlflow_tmp)
    parent = client.get_run(out.mlflow_run)
    assert parent.data.tags["flow"] == "walk_forward"
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(c.data.params["seed"] for c in children) == ["0", "1"]
    # each child holds its seed's two monthly CNNs' best metrics
    assert all("cnn_best.best_epoch" in c.data.metrics for c in children)
