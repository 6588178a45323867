"""A run whose process was killed is marked KILLED when the next run starts (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from cnnlstm.infra import tracking

_KILLED_MID_RUN = """
import os
from cnnlstm.infra import tracking
with tracking.tracked_run("cnnlstm-dead") as run:
    print(run.info.run_id, flush=True)
    os._exit(9)  # killed while the run is open: MLflow never hears it end
"""


@pytest.mark.slow  # a fresh process importing MLflow
def test_a_killed_runs_run_is_marked_killed_at_the_next_start(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri, CNNLSTM_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_RUN], env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 9, done.stderr[-2000:]
    killed = done.stdout.split()[0]
    client = MlflowClient(uri)
    assert client.get_run(killed).info.status == "RUNNING"  # what MLflow showed forever
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("CNNLSTM_HOME", str(tmp_path / "home"))
    with tracking.tracked_run("cnnlstm-dead") as run:
        mine = run.info.run_id
        assert client.get_run(mine).info.status == "RUNNING"  # a live owner is left alone
    assert client.get_run(killed).info.status == "KILLED"
    assert client.get_run(mine).info.status == "FINISHED"
