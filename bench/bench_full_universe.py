"""The paper protocol on a full-size simulated universe: per-stage seconds and peak memory.

Usage: .venv/bin/python bench/bench_full_universe.py [--stocks 3000] [--profile fast]
       [--start 2010-01-01] [--end 2017-12-31] [--accelerator auto] [--source qlib:PATH]

Runs the real `backtest` flow (every stage, `refresh=True`, MLflow off, a temporary Prefect
home and result storage, the project's temporary Prefect server: `temporary_server()`, its
database copied from the user's template) on `SimConfig(n_stocks=...)` over
2010-2017 (the shape of a real A-share universe), with the paper's split fitted to that span.
With `--source qlib:PATH` (e.g. the shared CSI 300 sample, or `bench_read_span.py`'s simulated
Qlib folder) it reads that folder instead, with the split fitted to --start..--end (the ingest
stage reads only that span plus the look-back).
Prints one `STAGE` line per stage (seconds and the process's peak RSS while it ran, as the flow
measured them: `stages.csv`'s `peak_rss_mib`), then a `FULL` line: the flow's wall time, this
process's peak RSS (the Prefect server runs in another process and is not counted) and the goal
(<= 3 min and <= 3 GB on 2 cores with the fast profile).
`bench/gpu_check.py` calls `run_protocol` with 5,000 stocks and the paper profile.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from datetime import date
from typing import Any


def _rss_sampler(stop: threading.Event, peak: list[float]) -> None:
    """Peak resident memory of this process, sampled every 0.1 s (GiB)."""
    page = os.sysconf("SC_PAGE_SIZE")
    while not stop.wait(0.1):
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * page / 1024**3
        peak[0] = max(peak[0], rss)


def run_protocol(
    n_stocks: int = 3000,
    profile: str = "fast",
    start: date = date(2010, 1, 1),
    end: date = date(2017, 12, 31),
    accelerator: str = "auto",
    seed: int = 0,
    source: str | None = None,
    seeds: int = 1,
) -> dict[str, Any]:
    """Run the backtest flow on a simulated universe; per-stage seconds, wall time, peak RSS.

    `seeds` > 1 trains that many seeds (0, 1, ...) in the one run (`ResearchParams.seeds`).
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    home = tempfile.mkdtemp(prefix="bench-full-universe-")
    os.environ["PREFECT_HOME"] = home
    os.environ["PREFECT_LOCAL_STORAGE_PATH"] = os.path.join(home, "storage")
    os.environ["CNNLSTM_HOME"] = os.path.join(home, "cnnlstm")
    started = time.perf_counter()
    from cnnlstm.infra.prefect_server import temporary_server

    # the project's temporary server (its database copied from the user's template), started
    # now so that its start overlaps the imports below, as the command line's does
    with temporary_server():
        return _run_flow(started, n_stocks, profile, start, end, accelerator, seed, source, seeds)


def _run_flow(
    started: float,
    n_stocks: int,
    profile: str,
    start: date,
    end: date,
    accelerator: str,
    seed: int,
    source: str | None,
    seeds: int,
) -> dict[str, Any]:
    from cnnlstm.flows.backtest import backtest_flow
    from cnnlstm.flows.params import DataParams, Protocol, ResearchParams, TrackingParams
    from cnnlstm.tasks.data.sources.sim import SimConfig
    from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

    imported = time.perf_counter() - started
    if source:
        base = ResearchParams(
            data=DataParams(source=source),
            protocol=Protocol.fitted_to(start, end),
            profile=profile,
        )
    else:
        sim = SimConfig(n_stocks=n_stocks, start=start, end=end, seed=seed)
        base = ResearchParams.default_sim(data=DataParams(source="sim", sim=sim), profile=profile)
    overrides: dict[str, Any] = {
        "tracking": TrackingParams(enabled=False),
        "refresh": True,
    }
    if seeds > 1:
        overrides["seeds"] = tuple(range(seeds))
    if accelerator != "auto":
        overrides["cnn"] = base.cnn_config().model_copy(update={"accelerator": accelerator})
        overrides["lstm"] = base.lstm_config().model_copy(update={"accelerator": accelerator})
    params = base.model_copy(update=overrides)
    assert isinstance(params.cnn_config(), CnnTrainConfig)
    assert isinstance(params.lstm_config(), LstmTrainConfig)
    stop, peak = threading.Event(), [0.0]
    sampler = threading.Thread(target=_rss_sampler, args=(stop, peak), daemon=True)
    sampler.start()
    flow_started = time.perf_counter()
    try:
        outcome = backtest_flow(params)
    finally:
        stop.set()
        sampler.join()
    wall = time.perf_counter() - flow_started
    process = time.perf_counter() - started
    metrics = {n.network: n.metrics for n in outcome.networks}
    return {
        "n_stocks": n_stocks,
        "profile": profile,
        "protocol": f"train {params.protocol.train.start}..{params.protocol.train.end}, "
        f"test {params.protocol.test.start}..{params.protocol.test.end}",
        "import_s": imported,
        "wall_s": wall,
        "process_s": process,
        "seeds": seeds,
        "stages": dict(outcome.seconds),
        "stage_peak_rss_mib": dict(outcome.peak_rss_mib),
        "source": source or f"sim n_stocks={n_stocks}",
        "peak_rss_gb": max(peak[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2),
        "train_samples": {k: v.get("train_samples") for k, v in metrics.items()},
        "epochs_run": {k: v.get("epochs_run") for k, v in metrics.items()},
        "torch_threads": {k: v.get("torch_threads") for k, v in metrics.items()},
        "fit_seconds": {
            k: round(v.get("fit_seconds", float("nan")), 1) for k, v in metrics.items()
        },
    }


def print_result(result: dict[str, Any], goal: str) -> None:
    """The STAGE lines and the FULL summary line."""
    peaks = result.get("stage_peak_rss_mib", {})
    for name, secs in result["stages"].items():
        print(f"STAGE {name}: {secs:.1f} s, peak RSS {peaks.get(name, float('nan')):,.0f} MiB")
    for name, secs in result["fit_seconds"].items():  # trainings run as submitted stages
        print(f"STAGE fit {name} (Trainer.fit): {secs:.1f} s")
    print(
        f"FULL UNIVERSE ({result['source']}, {result['profile']} profile, "
        f"{result['protocol']}, {result['seeds']} seed(s)): flow {result['wall_s']:.1f} s (+ "
        f"imports {result['import_s']:.1f} s; process {result['process_s']:.1f} s), peak RSS "
        f"{result['peak_rss_gb']:.2f} GiB, training samples {result['train_samples']}, "
        f"epochs {result['epochs_run']}, torch threads "
        f"{result['torch_threads']}, load {os.getloadavg()[0]:.2f}; goal {goal}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=3000)
    ap.add_argument("--profile", default="fast", choices=["fast", "paper"])
    ap.add_argument("--start", type=date.fromisoformat, default=date(2010, 1, 1))
    ap.add_argument("--end", type=date.fromisoformat, default=date(2017, 12, 31))
    ap.add_argument("--accelerator", default="auto")
    ap.add_argument("--source", default=None, help="a source spec (qlib:PATH) instead of the sim")
    ap.add_argument("--seeds", type=int, default=1, help="seeds trained in the one run")
    args = ap.parse_args()
    print(f"bench_full_universe: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    result = run_protocol(
        args.stocks,
        args.profile,
        args.start,
        args.end,
        args.accelerator,
        source=args.source,
        seeds=args.seeds,
    )
    print_result(result, "1 seed <= 45 s and <= 2 GiB, 5 seeds <= 120 s on 2 quiet cores")


if __name__ == "__main__":
    main()
