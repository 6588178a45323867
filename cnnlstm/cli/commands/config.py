"""`cnnlstm config show`: the effective research configuration as YAML.

Examples:
    cnnlstm config show                                  # every default
    cnnlstm config show --config configs/csi300.yaml --set selection.top_fraction=0.05
    cnnlstm config show --source csv:DIR --profile paper > run.yaml
    cnnlstm backtest --config run.yaml                   # the same run

It takes the same `--config`, `--set` and shorthand flags as `backtest` and validates them into
the same typed parameters, so an invalid setting fails here with its field path, before anything
runs. The training sections (`cnn`, `lstm`) are printed as the profile fills them.
"""

from __future__ import annotations

import argparse

from cnnlstm.cli.research import add_research_arguments, research_params
from cnnlstm.cli.settings import to_yaml


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `config` subcommand's parser."""
    parser = subparsers.add_parser(
        "config",
        help="print the effective configuration (config file + flags + --set) as YAML",
        description="Validate the settings a backtest would run with and print them as YAML.",
    )
    parser.add_argument("action", choices=["show"], help="show: print the configuration")
    add_research_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the effective configuration."""
    print(to_yaml(research_params(args).effective()), end="")
    return 0
