"""The first hour of a user: a default run is quiet, names its results, and MLflow opens on them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support import stop_process

TINY = ["--sim", "n_stocks=30", "--sim", "start=2010-01-01", "--sim", "end=2013-12-31"]
TINY += ["--set", "cnn.epochs=2", "--set", "lstm.epochs=2"]

#: What must never reach a user's console on a default run.
NOISE = re.compile(
    r"GPU available|TPU available|HPU available|💡|Tip:|litlogger|limit_val_batches|LeafSpec"
    r"|Warning|warnings\.warn|Traceback|pickle|(Starting|Stopping) temporary server"
    r"|Beginning flow run|Downloading artifacts|Successfully registered|Created version",
    re.IGNORECASE,
)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        CNNLSTM_HOME=str(tmp_path / "data"),
        OMP_NUM_THREADS="1",
        **extra,
    )
    return env


@pytest.mark.slow  # a whole (tiny) backtest with training and MLflow: 1-5 min on 2 cores
def test_default_run_is_quiet_names_its_results_and_the_ui_opens_on_them(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "cnnlstm.cli.main", "backtest", *TINY],
        capture_output=True, text=True, cwd=tmp_path, env=_env(tmp_path), timeout=1500,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stdout + done.stderr
    noisy = [line for line in console.splitlines() if NOISE.search(line)]
    assert not noisy, noisy
    found = re.search(r"^results: (\S+)/$", done.stdout, re.MULTILINE)
    assert found, done.stdout[-2000:]
    out = Path(found.group(1))
    assert out.parent == tmp_path / "out" and out.name.startswith("backtest-")
    for name in ("table2.md", "selection.csv", "signals.csv", "stages.csv", "config.yaml"):
        assert (out / name).is_file() and name in done.stdout
    run_id = re.search(r"^MLflow run (\w+): open it with `cnnlstm ui --run", done.stdout, re.M)
    assert run_id, done.stdout[-1500:]

    # `cnnlstm ui` serves the store this run used, on loopback, and links to the run
    ui = subprocess.Popen(
        [sys.executable, "-m", "cnnlstm.cli.main", "ui", "--run", run_id.group(1)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=_env(tmp_path),
    )  # fmt: skip
    try:
        line = ui.stdout.readline()
        pattern = r"MLflow UI: (http://127\.0\.0\.1:(\d+)/)(#/experiments/\d+/runs/\w+)"
        link = re.match(pattern, line)
        assert link, (line, ui.stderr.read() if ui.poll() is not None else "")
        api = f"{link.group(1)}api/2.0/mlflow/runs/get?run_id={run_id.group(1)}"
        with urllib.request.urlopen(api, timeout=30) as answer:
            assert json.load(answer)["run"]["info"]["run_id"] == run_id.group(1)
    finally:
        stop_process(ui)  # SIGTERM, as a service manager or `kill` would
    # the MLflow server and its children (uvicorn, the job runner, huey consumers) went with it
    deadline = time.monotonic() + 60
    while (left := _processes_mentioning(str(tmp_path))) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, left


def _processes_mentioning(text: str) -> list[str]:
    """Live processes (not this one) whose command line or environment mentions `text`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        if proc.name == str(os.getpid()):
            continue
        try:
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # exited, not yet reaped
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline or text.encode() in environ:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace")[:200])
    return found
