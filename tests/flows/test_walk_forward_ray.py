"""walk_forward on a local Ray instance gives the sequential run's selections, trades and metrics
(as tests/flows/test_walk_forward_dask.py does for Dask): the runner changes where months
train, never what they decide."""

from __future__ import annotations

import importlib.util
import json
from datetime import date

import polars as pl
import pytest
from mlflow import MlflowClient
from prefect.artifacts import Artifact

from cnnlstm.flows.params import Period, Protocol, ResearchParams, TrackingParams
from cnnlstm.flows.runners import TaskRunnerConfig
from cnnlstm.flows.walk_forward import WalkForwardParams, walk_forward_flow
from cnnlstm.tasks.train import CnnTrainConfig, LstmTrainConfig

pytestmark = [
    pytest.mark.usefixtures("prefect_harness"),
    pytest.mark.skipif(
        importlib.util.find_spec("prefect_ray") is None,
        reason="prefect-ray is not installed (pip install -e .[ray])",
    ),
]


def _params(tiny_data, runner: TaskRunnerConfig) -> WalkForwardParams:
    research = ResearchParams(
        data=tiny_data,
        protocol=Protocol(
            train=Period(start=date(2011, 3, 1), end=date(2012, 12, 31)),  # ignored here
            test=Period(start=date(2013, 1, 1), end=date(2013, 3, 31)),
        ),
        cnn=CnnTrainConfig(epochs=2, batch_size=256),
        lstm=LstmTrainConfig(epochs=2, batch_size=256),
        lstm_windows={"max_windows_per_month": 60},
        tracking=TrackingParams(experiment="test-walk-forward-ray", register_models=False),
        refresh=True,  # the second run recomputes every stage instead of reading the first's
    )
    return WalkForwardParams(research=research, train_months=12, lstm_every=2, task_runner=runner)


def _selection() -> pl.DataFrame:
    artifact = Artifact.get("walk-forward-selection")
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    return pl.DataFrame(rows).sort("month", "rank")


@pytest.mark.slow  # two walk-forward runs of 3 months plus a local Ray start: 1-4 min
def test_local_ray_reproduces_the_sequential_walk_forward(
    tiny_data, mlflow_tmp, tmp_path, monkeypatch
):
    # Ray starts its workers with OMP_NUM_THREADS=1 (one torch thread per training); the
    # sequential run uses one too, for bit-identical training
    monkeypatch.setenv("CNNLSTM_TORCH_THREADS", "1")
    sequential = walk_forward_flow(_params(tiny_data, TaskRunnerConfig(max_workers=1)))
    seq_selection = _selection()
    ray_run = walk_forward_flow(_params(tiny_data, TaskRunnerConfig(kind="ray", n_workers=2)))
    ray_selection = _selection()

    assert sequential["months"] == ray_run["months"] == 3
    assert "Cached" not in set(ray_run["stages"].values())  # every training ran again
    assert seq_selection.height >= 3
    assert ray_selection.equals(seq_selection)

    client = MlflowClient(mlflow_tmp)
    seq_metrics = client.get_run(sequential["mlflow_run"]).data.metrics
    ray_metrics = client.get_run(ray_run["mlflow_run"]).data.metrics
    assert seq_metrics.keys() == ray_metrics.keys()
    for key, value in seq_metrics.items():
        if key.endswith(("fit_seconds", "samples_per_s")):
            continue  # wall-clock measurements, not results
        assert ray_metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert ray_run["table2"] == sequential["table2"]
