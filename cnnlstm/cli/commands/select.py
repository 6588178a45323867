"""`cnnlstm select`: the decision month's selection with the champion CNN, without a server.

Examples:
    cnnlstm select --as-of 2016-02-29 --source qlib:data/cn
    cnnlstm select --source sim --as-of 2013-06-28

Runs the `monthly_selection` flow (the same checks as the scheduled run: the rebalance session
closed, the data reach it, the champion belongs to the data's dataset) and prints the selection.
"""

from __future__ import annotations

import argparse

from cnnlstm.cli.live_args import add_live_arguments, live_fields


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `select` subcommand's parser."""
    parser = subparsers.add_parser(
        "select",
        help="publish the month's selection with the champion CNN (monthly_selection flow)",
        description="Run the monthly selection flow for --as-of without a Prefect server.",
    )
    add_live_arguments(parser)
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train a new CNN for the month (registered as a challenger, never promoted)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the monthly selection flow and print what it published."""
    from cnnlstm.flows.monthly_selection import MonthlyParams, monthly_selection_flow
    from cnnlstm.infra.dead_runs import owned_flow_runs

    with owned_flow_runs():
        out = monthly_selection_flow(MonthlyParams(**live_fields(args), retrain=args.retrain))
    print(f"selection for {out.month:%Y-%m} (rebalance {out.rebalance_date}, {out.model}):")
    print(" ".join(out.symbols))
    print(f"published: {out.path}")
    return 0
