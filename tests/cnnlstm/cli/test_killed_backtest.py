"""A backtest killed -9 mid-run is CRASHED in Prefect once the next backtest starts (real CLI)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY = ["--sim", "n_stocks=30", "--sim", "start=2010-01-01", "--sim", "end=2013-12-31"]
TINY += ["--set", "cnn.epochs=2", "--set", "lstm.epochs=2", "--no-mlflow"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    home = {"PREFECT_HOME": tmp_path / "prefect-home", "CNNLSTM_HOME": tmp_path / "data"}
    return env | {k: str(v) for k, v in home.items()} | {"OMP_NUM_THREADS": "1"}


def _flow_runs(db: Path) -> list[tuple[str, str, str]]:
    """(name, state type, tags) of every flow run in the Prefect home's database."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as con:
            rows = con.execute("SELECT name, state_type, tags FROM flow_run").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    return [(str(n), str(s), str(t)) for n, s, t in rows]


@pytest.mark.slow  # two tiny backtests through the command line: 2-8 min on 2 cores
def test_a_killed_backtest_is_crashed_in_prefect_after_the_next_start(tmp_path):
    """Before: the killed backtest's flow run stayed RUNNING in Prefect forever."""
    command = [sys.executable, "-m", "cnnlstm.cli.main", "backtest", *TINY]
    db = tmp_path / "prefect-home" / "prefect.db"
    first = subprocess.Popen(
        command, cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while not any(state == "RUNNING" for _, state, _ in _flow_runs(db)):
        assert first.poll() is None, "the first backtest ended before its flow ran"
        assert time.monotonic() < deadline, "no flow run became RUNNING"
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)  # the command and its temporary Prefect server
    first.wait(timeout=60)
    killed = [run for run in _flow_runs(db) if run[1] == "RUNNING"]
    assert killed and all(f":{first.pid}" in tags for _, _, tags in killed), killed
    second = subprocess.run(
        command, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=1500
    )
    assert second.returncode == 0, second.stderr[-3000:]
    states = {name: state for name, state, _ in _flow_runs(db)}
    assert all(states[name] == "CRASHED" for name, _, _ in killed), states
    assert "RUNNING" not in states.values(), states
