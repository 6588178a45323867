"""Tracking faults with real processes: runs at once on a new data home, a half-migrated store,
an MLflow server killed mid-run.

Each case runs the installed command in fresh processes, as a user would (the smallest
settings: 20 simulated stocks, one epoch per network). All are `slow`: a backtest takes minutes
on a loaded 2-core machine, and several at once longer.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support import free_port, stop_process

from cnnlstm.infra import tracking_store

TINY = [
    *("--sim", "n_stocks=20", "--sim", "start=2010-01-01", "--sim", "end=2012-12-31"),
    *("--set", "cnn.epochs=1", "--set", "lstm.epochs=1"),
]
RESULTS = {"table2.md", "metrics.json", "trades.csv", "nav.csv", "config.yaml", "stages.csv"}


def _env(tmp_path: Path, name: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(
        CNNLSTM_HOME=str(tmp_path / "home"),
        PREFECT_HOME=str(tmp_path / f"prefect-{name}"),
        CNNLSTM_TORCH_THREADS="1",
        **extra,
    )
    return env


def _backtest(tmp_path: Path, name: str, *argv: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cnnlstm.cli.main", "backtest", *TINY, *argv,
         "--out", str(tmp_path / f"out-{name}")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=_env(tmp_path, name, **extra),
    )  # fmt: skip


def _finish(proc: subprocess.Popen, timeout: float = 3000) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.slow  # n backtests at once: many minutes on a loaded 2-core machine
@pytest.mark.parametrize("n", [2, 4])
def test_backtests_started_together_on_a_new_data_home_all_succeed(tmp_path, n):
    procs = [_backtest(tmp_path, str(i)) for i in range(n)]
    done = [_finish(p) for p in procs]
    for i, proc in enumerate(done):
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert {p.name for p in (tmp_path / f"out-{i}").iterdir()} >= RESULTS
    db = tmp_path / "home" / "mlflow.db"
    assert not tracking_store.verify(db).leftovers
    with sqlite3.connect(db) as con:
        kinds = con.execute("SELECT value FROM tags WHERE key='cnnlstm.kind'").fetchall()
        assert kinds.count(("parent",)) == n


@pytest.mark.slow  # a fresh process that creates an MLflow database
def test_a_half_migrated_store_is_refused_before_anything_trains(tmp_path):
    db = tmp_path / "home" / "mlflow.db"
    db.parent.mkdir()
    tracking_store.forget()
    tracking_store.prepare(f"sqlite:///{db}")
    tracking_store.forget()
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE _alembic_tmp_latest_metrics (key VARCHAR(250))")
    done = _finish(_backtest(tmp_path, "x"), timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "half-migrated" in lines[0] and str(db) in lines[0]
    assert not (tmp_path / "prefect-x" / "prefect.db").exists()  # no flow started
    assert not (tmp_path / "home" / "artifacts").exists()  # nothing ingested or trained


def _mlflow_server(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination", str(tmp_path / "server-artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                              start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server, url
        except OSError:
            pass
        assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "mlflow server did not start in 180 s"
        time.sleep(0.5)


@pytest.mark.slow  # an MLflow server and a backtest: minutes on a loaded machine
def test_an_mlflow_server_killed_mid_run_leaves_out_complete(tmp_path):
    server, url = _mlflow_server(tmp_path)
    try:
        # fewer retries than MLflow's default (minutes of back-off): the path is the same
        fast = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
        proc = _backtest(tmp_path, "k", MLFLOW_TRACKING_URI=url, **fast)
        artifacts = tmp_path / "home" / "artifacts"
        deadline = time.monotonic() + 1800
        while not any(artifacts.glob("train_*")):  # the run is training: kill the server
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.5)
        os.killpg(server.pid, signal.SIGKILL)
        done = _finish(proc)
    finally:
        stop_process(server, timeout=20)
    out = tmp_path / "out-k"
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert "MLflow tracking failed" in lines[-1] and str(out) in lines[-1]
    assert {p.name for p in out.iterdir()} >= RESULTS
