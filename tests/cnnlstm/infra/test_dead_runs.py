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


_FLOW = """
import sys, time
from prefect import flow, task
from cnnlstm.infra.dead_runs import owned_flow_runs

@task
def nap(seconds: float) -> None:
    print("running", flush=True)
    time.sleep(seconds)

@flow(name="cnnlstm-dead-flow")
def work(seconds: float) -> None:
    nap(seconds)

with owned_flow_runs():
    work(float(sys.argv[1]))
"""


def _flow_runs(api: str, kind: str = "flow_runs") -> dict[str, tuple[str, list[str]]]:
    from support import prefect_api

    runs = prefect_api(f"{api}/{kind}/filter", {"limit": 50})
    return {run["id"]: (run["state_type"], run["tags"]) for run in runs}


def _start_flow(env: dict[str, str], seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _FLOW, str(seconds)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "running"
    return proc


@pytest.mark.slow  # a real Prefect server and three Python processes importing Prefect
def test_a_killed_flow_run_is_marked_crashed_in_prefect_at_the_next_start(tmp_path):
    """Before: a flow run whose process was killed -9 stayed RUNNING in Prefect forever."""
    import signal

    from support import prefect_server

    with prefect_server(tmp_path) as (api, env):
        killed = _start_flow(env, 600)
        alive = _start_flow(env, 600)
        try:
            os.kill(killed.pid, signal.SIGKILL)
            killed.wait(timeout=60)
            before = _flow_runs(api)
            assert sorted(state for state, _ in before.values()) == ["RUNNING", "RUNNING"]
            done = subprocess.run(
                [sys.executable, "-c", _FLOW, "0"], env=env, capture_output=True, text=True,
                timeout=600,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-3000:]
            after = _flow_runs(api)
            tasks = _flow_runs(api, "task_runs")
        finally:
            alive.kill()
            alive.wait(timeout=60)
    owner = {
        run: next(t for t in tags if t.startswith("cnnlstm.owner:"))
        for run, (_, tags) in after.items()
    }
    by_pid = {tag.rsplit(":", 1)[1]: run for run, tag in owner.items()}
    assert after[by_pid[str(killed.pid)]][0] == "CRASHED"
    assert after[by_pid[str(alive.pid)]][0] == "RUNNING"  # a live owner is left alone
    assert sorted(state for state, _ in after.values()) == ["COMPLETED", "CRASHED", "RUNNING"]
    naps = {tuple(tags): state for state, tags in tasks.values()}
    assert sorted(naps.values()) == ["COMPLETED", "CRASHED", "RUNNING"]  # the killed one's too
