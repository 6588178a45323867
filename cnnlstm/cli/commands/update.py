"""`cnnlstm update`: bring the live source's store up to the last completed session.

Examples:
    cnnlstm update --source parquet:/feeds/daily --market cn
    cnnlstm update --source qlib:data/qlib/cn_data --option instruments=csi300 --as-of 2020-09-25

Runs the `data_update` flow without a server: ingests what is new (the store's validation and
restatement policy), prints what changed (rows added, restated, symbols new or gone, the last
session now held) and exits 2 (red) when the source did not reach the expected session.
"""

from __future__ import annotations

import argparse

from cnnlstm.cli.commands.ingest import _key_value, source_option_value
from cnnlstm.cli.live_args import add_live_arguments, live_fields


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `update` subcommand's parser."""
    parser = subparsers.add_parser(
        "update",
        help="bring the source's store up to the last completed session (data_update)",
        description="Ingest what the source holds beyond the store, report the change, and fail "
        "when the source did not reach the expected session.",
    )
    add_live_arguments(parser)
    parser.add_argument("--benchmark", metavar="KIND:PATH[#SYMBOL]", help="the benchmark index")
    parser.add_argument(
        "--option",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the source's reader, repeatable (as for `cnnlstm ingest`)",
    )
    parser.add_argument("--on-invalid", choices=["fail", "quarantine"], default="fail")
    parser.add_argument(
        "--on-restated",
        choices=["fail", "replace"],
        default="fail",
        help="restated stored rows fail (default) or replace the symbol's history",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the data update flow and print what changed."""
    from cnnlstm.flows.data_update import UpdateParams, data_update_flow
    from cnnlstm.infra.dead_runs import owned_flow_runs

    fields = live_fields(args)
    options = {k: source_option_value(k, v) for k, v in args.option}
    fields["data"] = fields["data"].model_copy(
        update={
            "benchmark": args.benchmark,
            "source_options": options,
            "on_invalid": args.on_invalid,
            "on_restated": args.on_restated,
        }
    )
    with owned_flow_runs():
        report = data_update_flow(UpdateParams(**fields))
    for line in report.lines():
        print(line)
    return 0
