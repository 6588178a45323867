"""Speed-up of the task runners on `walk_forward`, against a sequential run in the same process.

Workload: `walk_forward` over M test months of the small simulated market (60 stocks, 4 years,
2 epochs per network): M CNN trainings and M/2 LSTM trainings that do not depend on each other,
submitted together to the chosen Prefect task runner. Every run recomputes every stage
(`refresh=True`). One untimed warm-up run comes first (imports, numba compilation, MLflow's
database creation).

Runners: `threads max_workers=1` (the sequential baseline), `threads max_workers=W`, `dask`
(a LocalCluster of W single-threaded worker processes started by the flow run), and `dask` at
the address of a cluster that is already running (warmed by one untimed run), as a deployment
with a standing Dask cluster would use it. Prints wall seconds, the speed-up
against the baseline, and whether each run's Table 2 equals the baseline's. The Dask figure
includes what each flow run pays to start its LocalCluster: worker processes that import
torch, Lightning, Prefect and MLflow and compile the numba kernels again.

Usage: .venv/bin/python bench/bench_walk_forward.py [--months M] [--workers W] [--epochs E]
(one Prefect test server in-process; MLflow and artifacts in a temporary directory).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=4, help="walk-forward months (<= 12)")
    parser.add_argument("--workers", type=int, default=2, help="threads / Dask workers")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of every training")
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

    from cnnlstm.flows.params import DataParams, Period, Protocol, ResearchParams, TrackingParams
    from cnnlstm.flows.runners import TaskRunnerConfig
    from cnnlstm.flows.walk_forward import WalkForwardParams, walk_forward_flow
    from cnnlstm.tasks.data.sources.sim import SimConfig
    from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

    def params(months: int, runner: TaskRunnerConfig) -> WalkForwardParams:
        research = ResearchParams(
            data=DataParams(
                source="sim",
                sim=SimConfig(n_stocks=60, start=date(2010, 1, 1), end=date(2013, 12, 31), seed=3),
            ),
            protocol=Protocol(
                train=Period(start=date(2011, 3, 1), end=date(2012, 12, 31)),  # ignored
                test=Period(start=date(2013, 1, 1), end=date(2013, months, 28)),
            ),
            cnn=CnnTrainConfig(epochs=args.epochs, batch_size=256, progress_bar=False),
            lstm=LstmTrainConfig(epochs=args.epochs, batch_size=256, progress_bar=False),
            lstm_windows={"max_windows_per_month": 60},
            tracking=TrackingParams(experiment="bench-walk-forward", register_models=False),
            refresh=True,
        )
        return WalkForwardParams(
            research=research, train_months=12, lstm_every=2, task_runner=runner
        )

    # Dask workers compute with one torch thread (OMP_NUM_THREADS=1): so does this process, so
    # that the runs are comparable (and their trainings bit-identical) and the speed-up is the
    # parallelism's own, W single-threaded workers against one single-threaded run
    import torch

    torch.set_num_threads(1)
    w = args.workers
    runners = {
        "sequential (threads x1)": TaskRunnerConfig(max_workers=1),
        f"threads x{w}": TaskRunnerConfig(max_workers=w),
        f"dask {w} processes": TaskRunnerConfig(kind="dask", n_workers=w, threads_per_worker=1),
    }
    # a long-lived cluster (as a compose `dask-scheduler` would be), warmed by one untimed run
    from distributed import LocalCluster

    from cnnlstm.flows.runners import build_task_runner

    build_task_runner(runners[f"dask {w} processes"])  # sets the comm timeouts it would use
    cluster = LocalCluster(
        n_workers=w, threads_per_worker=1, dashboard_address=":0", silence_logs=40
    )
    warm_cluster = TaskRunnerConfig(kind="dask", address=cluster.scheduler_address)
    runners[f"dask {w} processes, running"] = warm_cluster
    print(
        "torch intra-op threads: 1 here and in every Dask worker; "
        f"walk_forward over {args.months} months ({args.months} CNN + "
        f"{(args.months + 1) // 2} LSTM trainings), {os.cpu_count()} CPU cores"
    )
    with prefect_test_harness(server_startup_timeout=120):
        walk_forward_flow(params(1, TaskRunnerConfig(max_workers=1)))  # warm-up, untimed
        walk_forward_flow(params(1, warm_cluster))  # the running cluster's workers: warm-up
        baseline_s = baseline_table = None
        for name, runner in runners.items():
            t0 = time.perf_counter()
            outcome = walk_forward_flow(params(args.months, runner))
            seconds = time.perf_counter() - t0
            if baseline_s is None:
                baseline_s, baseline_table = seconds, outcome.table2
            same = "identical" if outcome.table2 == baseline_table else "DIFFERS"
            print(
                f"  {name:<26} {seconds:8.1f} s   speed-up x{baseline_s / seconds:5.2f}   "
                f"Table 2 {same} to sequential"
            )
    cluster.close()
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
