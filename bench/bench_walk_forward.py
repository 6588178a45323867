"""Speed-up of the task runners on independent backtests, against a sequential run in-process.

Workload: N independent research backtests of the small simulated market (60 stocks, 4 years,
2 epochs per network; each trains both networks), run as the points of the `sweep` flow, i.e.
child flow runs submitted as tasks to the chosen Prefect task runner, the way `walk_forward`
submits its independent months. Every configuration recomputes every stage (`refresh=True`).

One untimed warm-up backtest first (imports, numba compilation, MLflow's database creation).
Runners: `threads max_workers=1` (the sequential baseline), `threads max_workers=N`, and `dask`
(a LocalCluster of N single-threaded worker processes). Prints wall seconds and the speed-up
against the baseline, and checks that every runner reproduces the baseline's metrics. The Dask
figure includes what each flow run pays to start its LocalCluster: worker processes that import
torch, Lightning, Prefect and MLflow and compile the numba kernels again.

Usage: .venv/bin/python bench/bench_walk_forward.py [--points N] [--stocks S]
(one Prefect test server in-process; MLflow and artifacts in a temporary directory).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from datetime import date


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2, help="independent backtests per runner")
    parser.add_argument("--stocks", type=int, default=60, help="stocks in the simulated market")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-wf-")
    os.environ.update(
        CNNLSTM_HOME=f"{tmp}/home",
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp}/mlflow.db",
        PREFECT_HOME=f"{tmp}/prefect",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_LEVEL="ERROR",
    )
    from prefect.testing.utilities import prefect_test_harness

    from flows.params import DataParams, Period, Protocol, ResearchParams, TrackingParams
    from flows.runners import TaskRunnerConfig
    from flows.sweep import SweepParams, sweep_flow
    from tasks.sources.sim import SimConfig
    from tasks.train import CnnTrainConfig, LstmTrainConfig

    base = ResearchParams(
        data=DataParams(
            source="sim",
            sim=SimConfig(
                n_stocks=args.stocks, start=date(2010, 1, 1), end=date(2013, 12, 31), seed=3
            ),
        ),
        protocol=Protocol(
            train=Period(start=date(2011, 3, 1), end=date(2012, 12, 31)),
            test=Period(start=date(2013, 1, 1), end=date(2013, 12, 31)),
        ),
        cnn=CnnTrainConfig(epochs=2, batch_size=256, progress_bar=False),
        lstm=LstmTrainConfig(epochs=2, batch_size=256, progress_bar=False),
        lstm_windows={"max_windows_per_month": 60},
        tracking=TrackingParams(experiment="bench-walk-forward", register_models=False),
        refresh=True,
    )
    n = args.points
    runners = {
        "sequential (threads x1)": TaskRunnerConfig(max_workers=1),
        f"threads x{n}": TaskRunnerConfig(max_workers=n),
        f"dask {n} processes": TaskRunnerConfig(kind="dask", n_workers=n, threads_per_worker=1),
    }
    print(f"{n} independent backtests ({args.stocks} stocks), {os.cpu_count()} CPU cores")
    with prefect_test_harness(server_startup_timeout=120):
        # warm-up, untimed: imports, numba compilation, the MLflow database's first migration
        sweep_flow(SweepParams(base=base, seeds=[n], task_runner=TaskRunnerConfig(max_workers=1)))
        baseline_s = None
        baseline_metrics = None
        for name, runner in runners.items():
            params = SweepParams(base=base, seeds=list(range(n)), task_runner=runner)
            t0 = time.perf_counter()
            outcome = sweep_flow(params)
            seconds = time.perf_counter() - t0
            metrics = [r.metrics for r in outcome.results]
            if baseline_s is None:
                baseline_s, baseline_metrics = seconds, metrics
            same = all(
                a.keys() == b.keys() and all(math.isclose(a[k], b[k], abs_tol=1e-12) for k in a)
                for a, b in zip(metrics, baseline_metrics, strict=True)
            )
            print(
                f"  {name:<26} {seconds:8.1f} s   speed-up x{baseline_s / seconds:5.2f}   "
                f"metrics {'identical' if same else 'DIFFER'} to sequential"
            )
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
