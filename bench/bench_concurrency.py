"""Runs started together on a fresh data home: how many trials end with every run succeeding.

Two cases, each repeated over trials, every process real (nothing mocked):
(1) `--first-calls N --procs K`: N trials of K fresh processes that import MLflow, wait at a
    gate, then make their first tracking call at once (`tracking.tracked_run` + one metric) on a
    new SQLite store. A trial succeeds when every process exits 0, the store is at this MLflow's
    schema with no leftover migration table, and it holds K runs in one experiment.
(2) `--backtests N --together K`: N trials of K `cnnlstm backtest` commands (20 simulated stocks,
    one epoch per network) started together on a new data home and one Prefect home (as one
    user's runs share `~/.prefect`). A trial succeeds when every command exits 0, writes its
    `--out` folder completely, and the store holds K parent runs and no leftover table.

Prints one line per trial and, per case, `CASE: S of N trials succeeded (runs: R of N*K)`.
Run: `.venv/bin/python bench/bench_concurrency.py [--first-calls 20 --procs 4]
[--backtests 3 --together 2]`. Minutes per backtest trial on a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnnlstm.infra import tracking_store

_FIRST_CALL = """
import sys, time
from pathlib import Path
gate = Path(sys.argv[1])
from cnnlstm.infra import tracking
import mlflow  # imported before the gate: the first connections then start together
while not gate.exists():
    time.sleep(0.01)
with tracking.tracked_run("cnnlstm-race") as run:
    mlflow.log_metric("x", 1.0)
"""

TINY = [
    *("--sim", "n_stocks=20", "--sim", "start=2010-01-01", "--sim", "end=2012-12-31"),
    *("--set", "cnn.epochs=1", "--set", "lstm.epochs=1"),
]
RESULTS = {"table2.md", "metrics.json", "trades.csv", "nav.csv", "config.yaml", "stages.csv"}


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    return env | {"CNNLSTM_TORCH_THREADS": "1"} | extra


def _store_ok(db: Path, kind_sql: str, expected: int) -> str | None:
    """None when the store is complete and holds `expected` runs; else what is wrong."""
    schema = tracking_store.verify(db)
    if schema.leftovers or schema.version != tracking_store.schema_head():
        return f"schema {schema.version}, leftovers {schema.leftovers}"
    with sqlite3.connect(db) as con:
        found = con.execute(kind_sql).fetchone()[0]
    return None if found == expected else f"{found} runs, expected {expected}"


def first_calls_trial(folder: Path, procs: int) -> tuple[int, str | None]:
    """One trial of case (1): (processes that succeeded, what was wrong or None)."""
    gate, db = folder / "go", folder / "mlflow.db"
    env = _clean_env(MLFLOW_TRACKING_URI=f"sqlite:///{db}", CNNLSTM_HOME=str(folder / "home"))
    started = [
        subprocess.Popen(
            [sys.executable, "-c", _FIRST_CALL, str(gate)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(procs)
    ]
    time.sleep(15)  # each imports MLflow, then waits at the gate
    gate.touch()
    errors = [p.communicate(timeout=900)[1] for p in started]
    ok = sum(p.returncode == 0 for p in started)
    if ok < procs:
        failed = next(e for p, e in zip(started, errors, strict=True) if p.returncode)
        return ok, failed.strip().splitlines()[-1] if failed.strip() else "no message"
    tracking_store.forget()
    return ok, _store_ok(db, "SELECT count(*) FROM runs", procs)


def backtests_trial(folder: Path, together: int) -> tuple[int, str | None]:
    """One trial of case (2): (commands that succeeded, what was wrong or None)."""
    env = _clean_env(CNNLSTM_HOME=str(folder / "home"), PREFECT_HOME=str(folder / "prefect"))
    started = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cnnlstm.cli.main",
                "backtest",
                *TINY,
                "--out",
                str(folder / f"out-{i}"),
            ],
            env=env,
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(together)
    ]
    errors = [p.communicate(timeout=3600)[1] for p in started]
    ok, wrong = 0, None
    for i, (proc, err) in enumerate(zip(started, errors, strict=True)):
        out = folder / f"out-{i}"
        complete = out.is_dir() and {p.name for p in out.iterdir()} >= RESULTS
        if proc.returncode == 0 and complete:
            ok += 1
        elif wrong is None:
            lines = err.strip().splitlines()
            wrong = f"exit {proc.returncode}: {lines[-1] if lines else 'no message'}"
    if wrong is None:
        tracking_store.forget()
        parents = "SELECT count(*) FROM tags WHERE key='cnnlstm.kind' AND value='parent'"
        wrong = _store_ok(folder / "home" / "mlflow.db", parents, together)
    return ok, wrong


def run_case(name: str, trials: int, width: int, trial) -> None:
    """Run `trials` trials of `trial(folder, width)`; print each and the count."""
    succeeded = runs = 0
    for i in range(trials):
        with tempfile.TemporaryDirectory(prefix="cnnlstm-conc-") as tmp:
            started = time.perf_counter()
            ok, wrong = trial(Path(tmp), width)
            seconds = time.perf_counter() - started
        succeeded += wrong is None
        runs += ok
        print(f"{name} trial {i + 1}: {ok}/{width} ok in {seconds:.0f} s; {wrong or 'clean'}")
    print(f"{name}: {succeeded} of {trials} trials succeeded (runs: {runs} of {trials * width})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first-calls", type=int, default=20, help="trials of case (1)")
    parser.add_argument("--procs", type=int, default=4, help="processes per trial of case (1)")
    parser.add_argument("--backtests", type=int, default=0, help="trials of case (2)")
    parser.add_argument("--together", type=int, default=2, help="backtests per trial of (2)")
    args = parser.parse_args()
    if args.first_calls:
        name = f"{args.procs} first MLflow calls at once"
        run_case(name, args.first_calls, args.procs, first_calls_trial)
    if args.backtests:
        name = f"{args.together} backtests at once"
        run_case(name, args.backtests, args.together, backtests_trial)


if __name__ == "__main__":
    main()
