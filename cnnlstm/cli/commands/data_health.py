"""`cnnlstm data-health`: does the feed reach the last completed session?

Examples:
    cnnlstm data-health --source qlib:data/cn --market cn
    cnnlstm data-health --source sim --as-of 2013-07-02

Prints the latest date per source, the symbols missing on the session and the suspended share;
exits 2 (red) when a source is stale. Runs the `data_health` flow without a server.
"""

from __future__ import annotations

import argparse

from cnnlstm.cli.live_args import add_live_arguments, live_fields


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `data-health` subcommand's parser."""
    parser = subparsers.add_parser(
        "data-health",
        help="check that the data reach the last completed session",
        description="Latest date per source, missing symbols and suspended share; fails when "
        "the data are stale.",
    )
    add_live_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the data health flow and print its report."""
    from cnnlstm.flows.data_health import HealthParams, data_health_flow
    from cnnlstm.infra.dead_runs import owned_flow_runs

    with owned_flow_runs():
        health = data_health_flow(HealthParams(**live_fields(args)))
    for line in health.lines():
        print(line)
    return 0
