"""walk_forward on a Dask LocalCluster (worker processes) gives the sequential run's selections,
trades and metrics: the task runner changes where months train, never what they decide."""

from __future__ import annotations

import polars as pl
import pytest
from mlflow import MlflowClient
from walk_forward_support import published_selection, tiny_walk_forward

from cnnlstm.flows.runners import TaskRunnerConfig
from cnnlstm.flows.walk_forward import walk_forward_flow

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _ledger(client: MlflowClient, run_id: str, name: str, tmp_path) -> pl.DataFrame:
    path = client.download_artifacts(run_id, f"ledger/{name}", str(tmp_path / run_id))
    return pl.read_csv(path)


@pytest.mark.slow  # two walk-forward runs of 3 months (5 trainings each): 1-3 min
def test_dask_local_cluster_reproduces_the_sequential_walk_forward(
    tiny_data, mlflow_tmp, tmp_path, monkeypatch
):
    # Dask starts its workers with OMP_NUM_THREADS=1, so training there uses one intra-op
    # thread (infra/runtime.py); the sequential run must too for bit-identical training (float
    # sums in another order drift in the last digits, and a validation loss would differ at 1e-4)
    monkeypatch.setenv("CNNLSTM_TORCH_THREADS", "1")
    sequential = walk_forward_flow(
        tiny_walk_forward(tiny_data, TaskRunnerConfig(max_workers=1), "test-walk-forward-dask")
    )
    seq_selection = published_selection()
    dask_runner = TaskRunnerConfig(kind="dask", n_workers=2, threads_per_worker=1)
    dask = walk_forward_flow(tiny_walk_forward(tiny_data, dask_runner, "test-walk-forward-dask"))
    dask_selection = published_selection()

    assert sequential.months == dask.months == 3
    assert sequential.lstm_trainings == dask.lstm_trainings == 2
    # every training really ran again under Dask (no cache hit)
    assert "Cached" not in set(dask.stages.values())
    assert seq_selection.height >= 3
    assert dask_selection.equals(seq_selection)

    client = MlflowClient(mlflow_tmp)
    seq_run, dask_run = sequential.mlflow_run, dask.mlflow_run
    assert seq_run != dask_run
    seq_metrics = client.get_run(seq_run).data.metrics
    dask_metrics = client.get_run(dask_run).data.metrics
    assert seq_metrics.keys() == dask_metrics.keys()
    assert "cnn_lstm.annualized_return" in seq_metrics
    for key, value in seq_metrics.items():
        if key.endswith(("fit_seconds", "samples_per_s")):
            continue  # wall-clock measurements, not results
        assert dask_metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    for name in ("trades.csv", "nav.csv"):
        assert _ledger(client, dask_run, name, tmp_path).equals(
            _ledger(client, seq_run, name, tmp_path)
        ), name
    assert dask.table2 == sequential.table2
