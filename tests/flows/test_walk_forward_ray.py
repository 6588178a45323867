"""walk_forward on a local Ray instance gives the sequential run's selections, trades and metrics
(as tests/flows/test_walk_forward_dask.py does for Dask): the runner changes where months
train, never what they decide."""

from __future__ import annotations

import importlib.util

import pytest
from mlflow import MlflowClient
from walk_forward_support import published_selection, tiny_walk_forward

from cnnlstm.flows.runners import TaskRunnerConfig
from cnnlstm.flows.walk_forward import walk_forward_flow

pytestmark = [
    pytest.mark.usefixtures("prefect_harness"),
    pytest.mark.skipif(
        importlib.util.find_spec("prefect_ray") is None,
        reason="prefect-ray is not installed (pip install -e .[ray])",
    ),
]


@pytest.mark.slow  # two walk-forward runs of 3 months plus a local Ray start: 1-4 min
def test_local_ray_reproduces_the_sequential_walk_forward(
    tiny_data, mlflow_tmp, tmp_path, monkeypatch
):
    # Ray starts its workers with OMP_NUM_THREADS=1 (one torch thread per training); the
    # sequential run uses one too, for bit-identical training
    monkeypatch.setenv("CNNLSTM_TORCH_THREADS", "1")
    sequential = walk_forward_flow(
        tiny_walk_forward(tiny_data, TaskRunnerConfig(max_workers=1), "test-walk-forward-ray")
    )
    seq_selection = published_selection()
    ray_run = walk_forward_flow(
        tiny_walk_forward(
            tiny_data, TaskRunnerConfig(kind="ray", n_workers=2), "test-walk-forward-ray"
        )
    )
    ray_selection = published_selection()

    assert sequential.months == ray_run.months == 3
    assert "Cached" not in set(ray_run.stages.values())  # every training ran again
    assert seq_selection.height >= 3
    assert ray_selection.equals(seq_selection)

    client = MlflowClient(mlflow_tmp)
    seq_metrics = client.get_run(sequential.mlflow_run).data.metrics
    ray_metrics = client.get_run(ray_run.mlflow_run).data.metrics
    assert seq_metrics.keys() == ray_metrics.keys()
    for key, value in seq_metrics.items():
        if key.endswith(("fit_seconds", "samples_per_s")):
            continue  # wall-clock measurements, not results
        assert ray_metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert ray_run.table2 == sequential.table2
