"""`cnnlstm backtest`: run the research protocol as the Prefect `backtest` flow and print Table 2.

Examples:
    cnnlstm backtest                     # the simulated market, fast profile, paper split
    cnnlstm backtest --source csv:../shared/data/us-sp500-2013-2018/stocks \
        --benchmark csv:../shared/data/us-sp500-2013-2018/index_gspc.csv \
        --train 2014-03-01:2015-12-31 --test 2016-01-01:2018-01-31 --market us --out out/sp500
    cnnlstm backtest --source qlib:../shared/data/cn-qlib-csi300-sample \
        --benchmark qlib:../shared/data/cn-qlib-csi300-sample#SH000300 --profile paper

Without a prefect server configured (`PREFECT_API_URL`), the flow runs against a temporary local
one; MLflow logs to `MLFLOW_TRACKING_URI` (default: SQLite in the data directory).
"""

from __future__ import annotations

import argparse
import time

from cnnlstm.cli.evidence_flags import add_seed_cost_arguments, apply_seed_cost_flags
from cnnlstm.cli.output import (
    add_out_argument,
    add_verbosity_argument,
    print_results,
    resolve_out_dir,
    tracking_failure_keeps,
)
from cnnlstm.cli.preflight import check_data, check_tracking
from cnnlstm.cli.research import add_research_arguments, research_params
from cnnlstm.cli.research import preflight as research_preflight


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `backtest` subcommand's parser."""
    parser = subparsers.add_parser(
        "backtest",
        help="train on a period, test out of sample and print the paper's Table 2",
        description="Run ingest -> validate -> features -> train CNN/LSTM -> select -> timing -> "
        "backtest -> report -> MLflow as a Prefect flow of cached stages. With no arguments: the "
        "simulated market, the fast profile and the paper's split fitted to its span. Settings "
        "come from --config FILE, then the flags, then --set PATH=VALUE (see `cnnlstm config "
        "show`).",
    )
    add_research_arguments(parser)
    add_seed_cost_arguments(parser)  # --seed/--seeds/--cost
    add_out_argument(parser)
    add_verbosity_argument(parser)
    return parser


def build_params(args: argparse.Namespace):
    """The flow's `ResearchParams` from the command line (config file, flags, `--set`).

    Raises:
        UserInputError: a period, option or setting is invalid (the message names its field).
    """
    return research_params(apply_seed_cost_flags(args))


def preflight(args: argparse.Namespace) -> None:
    """Before any server starts: config file, paths, tracking, --out, then every setting.

    The cheap checks come first (a wrong path fails before torch is even imported); the full
    validation of the settings follows, so an invalid value never starts a server either.
    """
    research_preflight(args, "backtest")
    args.params = build_params(args)


def run(args: argparse.Namespace) -> int:
    """Check the inputs, run the backtest flow, print Table 2 and where the results are."""
    params = getattr(args, "params", None) or build_params(args)
    check_data(params.data)
    check_tracking(params.tracking.enabled)
    out = resolve_out_dir(args.out, "backtest")
    from cnnlstm.flows.backtest import backtest_flow
    from cnnlstm.infra.dead_runs import owned_flow_runs
    from cnnlstm.infra.prefect_server import prefect_api

    started = time.perf_counter()
    # the temporary Prefect server started by main, if any (waits for it)
    with prefect_api(), tracking_failure_keeps(out), owned_flow_runs():
        outcome = backtest_flow(params, out_dir=str(out))
    seconds = time.perf_counter() - started
    print(outcome.summary)
    print()
    cached = [s for s, state in outcome.stages.items() if state == "Cached"]
    print(f"finished in {seconds:.0f} s; stages from cache: {len(cached)} of {len(outcome.stages)}")
    print_results(out, outcome.tracked)
    return 0
