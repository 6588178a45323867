"""Cold vs cached time of the `backtest` flow on the simulated market, in one process.

Usage: .venv/bin/python bench/bench_backtest_flow.py [--n-stocks N] [--no-mlflow]

The cold run starts from an empty data directory (every stage computes); the cached run repeats
the same parameters (every stage from the cache). Both run against the same temporary Prefect
server, started before the first timing. Prints both times and their ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

parser = argparse.ArgumentParser()
parser.add_argument("--n-stocks", type=int, default=None, help="default: SimConfig's (300)")
parser.add_argument("--no-mlflow", action="store_true")
args = parser.parse_args()

home = tempfile.mkdtemp(prefix="bench_flow_")
os.environ.update(
    CNNLSTM_HOME=home,
    PREFECT_HOME=os.path.join(home, "prefect"),
    PREFECT_SERVER_ANALYTICS_ENABLED="false",
    DO_NOT_TRACK="1",
    PREFECT_LOGGING_LEVEL="WARNING",
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300",
)
os.environ.pop("MLFLOW_TRACKING_URI", None)

from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from cnnlstm.flows.backtest import backtest_flow  # noqa: E402
from cnnlstm.flows.params import DataParams, ResearchParams, TrackingParams  # noqa: E402
from cnnlstm.tasks.data.sources.sim import SimConfig  # noqa: E402

sim = SimConfig() if args.n_stocks is None else SimConfig(n_stocks=args.n_stocks)
params = ResearchParams.default_sim(
    data=DataParams(sim=sim), tracking=TrackingParams(enabled=not args.no_mlflow)
)
with prefect_test_harness(server_startup_timeout=300):
    start = time.perf_counter()
    cold = backtest_flow(params)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    cached = backtest_flow(params)
    cached_s = time.perf_counter() - start
assert set(cached.stages.values()) == {"Cached"}, cached.stages
print(f"simulated market: {sim.n_stocks} stocks, {sim.start}..{sim.end}; {params.protocol}")
print(f"cold run:   {cold_s:8.1f} s  (stages computed: {len(cold.stages)})")
print(f"cached run: {cached_s:8.1f} s  (all stages from cache)")
print(f"cached / cold = {cached_s / cold_s:.3f}")
print("stage seconds (cold / cached):")
for stage, seconds in cold.seconds.items():
    print(f"  {stage:14s} {seconds:8.1f} / {cached.seconds.get(stage, float('nan')):6.2f}")
