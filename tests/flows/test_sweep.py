"""The sweep flow: every grid point a child backtest flow run, compared in MLflow; the same numbers
from Dask worker processes as from the sequential run; failed points named, not hidden."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from cnnlstm.flows.params import ResearchParams, TrackingParams
from cnnlstm.flows.runners import TaskRunnerConfig
from cnnlstm.flows.sweep import SweepParams, sweep_flow
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _base(tiny_data, tiny_protocol) -> ResearchParams:
    return ResearchParams(
        data=tiny_data,
        protocol=tiny_protocol,
        cnn=CnnTrainConfig(epochs=2, batch_size=256),
        lstm=LstmTrainConfig(epochs=2, batch_size=256),
        lstm_windows={"max_windows_per_month": 60},
        tracking=TrackingParams(experiment="test-sweep", register_models=False),
        refresh=True,  # each sweep below recomputes: nothing comes from the other's cache
    )


def _counts_trials(metric: str) -> bool:
    return metric.endswith((".dsr", ".sr0", ".n_trials")) or metric.startswith("dsr.")


@pytest.mark.slow  # four tiny backtests with training: about 1 min idle, 4 min on a busy box
def test_dask_sweep_matches_the_sequential_one_and_nests_runs_in_mlflow(
    tiny_data, tiny_protocol, mlflow_tmp, monkeypatch
):
    # Dask's workers train with one torch thread; the sequential run must too, or its thread
    # count follows the machine's load (cnnlstm/infra/runtime.py) and float sums drift at ~1e-6
    monkeypatch.setenv("CNNLSTM_TORCH_THREADS", "1")
    base = _base(tiny_data, tiny_protocol)
    sequential = sweep_flow(
        SweepParams(base=base, seeds=[0, 1], task_runner=TaskRunnerConfig(max_workers=1))
    )
    dask = sweep_flow(
        SweepParams(
            base=base,
            seeds=[0, 1],
            task_runner=TaskRunnerConfig(kind="dask", n_workers=2, threads_per_worker=1),
            name="sweep-dask",
        )
    )
    assert [r.label for r in sequential.results] == [
        "cnn.seed=0,lstm.seed=0",
        "cnn.seed=1,lstm.seed=1",
    ]
    assert [r.label for r in dask.results] == [r.label for r in sequential.results]
    for seq, par in zip(sequential.results, dask.results, strict=True):
        assert seq.run_id != par.run_id  # recomputed, not a cached run
        # The deflated Sharpe ratio (and its benchmark sr0) depend on how many trials the
        # experiment held when the run was logged: the Dask sweep ran after the sequential one.
        trial_free = {k: v for k, v in seq.metrics.items() if not _counts_trials(k)}
        assert trial_free == pytest.approx(
            {k: v for k, v in par.metrics.items() if not _counts_trials(k)}, rel=1e-9, abs=1e-12
        )
        assert set(seq.metrics) == set(par.metrics)
    # the seeds matter: different seeds train different networks
    assert sequential.results[0].metrics != sequential.results[1].metrics

    client = MlflowClient(mlflow_tmp)
    parent = client.get_run(dask.mlflow_run_id)
    assert parent.data.tags["flow"] == "sweep" and parent.info.run_name == "sweep-dask"
    assert parent.data.params["task_runner"].startswith("dask LocalCluster (2 workers")
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "sweep")] == [
        "sweep/comparison.md"
    ]
    for result in dask.results:
        child = client.get_run(result.run_id)
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["sweep.point"] == result.label
        assert child.data.params["cnn.seed"] == str(result.overrides["cnn.seed"])
    assert "| cnn.seed=1,lstm.seed=1 |" in dask.table


def test_failed_points_are_named_and_fail_the_sweep(tiny_data, tiny_protocol, mlflow_tmp, tmp_path):
    base = _base(tiny_data, tiny_protocol)
    missing = [f"csv:{tmp_path / name}" for name in ("absent-a", "absent-b")]
    with pytest.raises(RuntimeError, match="2 of 2 sweep points failed") as failure:
        sweep_flow(SweepParams(base=base, grid={"data.source": missing}))
    for source in missing:
        assert f"data.source={source}" in str(failure.value)
