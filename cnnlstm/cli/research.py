"""The research parameters from the command line: config file, shorthand flags, `--set`.

Shared by every command that runs the research protocol (`backtest`, `walk-forward`,
`config show`): `add_research_arguments` adds the flags, `research_params` turns them into the
same typed `ResearchParams` the Prefect form builds. Each shorthand flag writes one field path
(`--source` is `data.source`, `--train` is `protocol.train`, ...), so a flag, a config file
entry and a `--set` are three spellings of the same setting.
"""

from __future__ import annotations

import argparse
from typing import Any

from cnnlstm.cli.commands.ingest import _key_value, source_option_value
from cnnlstm.cli.settings import (
    add_config_arguments,
    apply_sets,
    get_path,
    load_config,
    set_path,
    validate,
)
from cnnlstm.core.errors import UserInputError
from cnnlstm.core.settings_tree import parse_period


def add_research_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--config`, `--set` and the shorthand flags of the research parameters."""
    add_config_arguments(parser)
    parser.add_argument("--source", metavar="KIND:PATH", help="bars (default sim): data.source")
    parser.add_argument("--benchmark", metavar="KIND:PATH[#SYMBOL]", help="index to compare to")
    parser.add_argument("--store", metavar="DIR",
                        help="bars store (default: one per source, as ingest uses)")  # fmt: skip
    parser.add_argument("--option", action="append", type=_key_value, default=[],
                        metavar="KEY=VALUE", help="source reader option (repeatable)")  # fmt: skip
    parser.add_argument("--sim", action="append", type=_key_value, default=[],
                        metavar="KEY=VALUE", help="sim market field: n_stocks=100")  # fmt: skip
    parser.add_argument("--train", metavar="START:END", help="training period (paper: 2007-2013)")
    parser.add_argument("--test", metavar="START:END", help="test period (paper: 2014-2017-03)")
    parser.add_argument("--market", choices=["cn", "us"], help="cost/rule preset (default cn)")
    parser.add_argument("--profile", choices=["fast", "paper"], help="default fast")
    parser.add_argument("--execution", choices=["open", "close"],
                        help="trade signals at the next open (default) or the close")  # fmt: skip
    parser.add_argument("--on-invalid", choices=["fail", "quarantine"], help="default fail")
    parser.add_argument("--survivorship-biased", action="store_true", default=None,
                        help="the stocks are survivors only: say so in the report")  # fmt: skip
    parser.add_argument("--experiment", help="MLflow experiment (default cnnlstm-backtest)")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    parser.add_argument("--refresh", action="store_true", help="ignore cached stage results")


#: Shorthand flag (argparse dest) -> the field path it sets.
FLAG_PATHS = {
    "source": "data.source",
    "benchmark": "data.benchmark",
    "store": "data.store",
    "on_invalid": "data.on_invalid",
    "market": "market",
    "profile": "profile",
    "execution": "protocol.execution",
    "survivorship_biased": "report.survivorship_caveat",
    "experiment": "tracking.experiment",
}


def research_tree(args: argparse.Namespace) -> dict[str, Any]:
    """The settings as a nested dict: config file, then shorthand flags, then `--set`.

    Raises:
        UserInputError: an unreadable config file or contradictory flags.
    """
    tree = load_config(getattr(args, "config", None))
    for dest, path in FLAG_PATHS.items():
        value = getattr(args, dest, None)
        if value is not None:
            set_path(tree, path, value)
    for key, text in getattr(args, "option", []) or []:
        set_path(tree, f"data.source_options.{key}", source_option_value(key, text))
    for key, text in getattr(args, "sim", []) or []:
        set_path(tree, f"data.sim.{key}", source_option_value(key, text))
    train, test = getattr(args, "train", None), getattr(args, "test", None)
    if train or test:
        if not (train and test):
            raise UserInputError("give both --train and --test (or neither)")
        for name, text in (("train", train), ("test", test)):
            start, end = parse_period(text)
            set_path(tree, f"protocol.{name}", {"start": start, "end": end})
    if getattr(args, "no_mlflow", False):
        set_path(tree, "tracking.enabled", False)
    if getattr(args, "refresh", False):
        set_path(tree, "refresh", True)
    apply_sets(tree, getattr(args, "set", []) or [])
    return tree


def preflight(args: argparse.Namespace, command: str) -> None:
    """The checks that need no heavy import, before any server starts.

    The config file reads, the source and benchmark paths exist, the tracking store answers
    (unless tracking is off) and `--out` can be written safely. The full validation of every
    setting follows in the command itself.

    Raises:
        UserInputError: the first problem found, in one line.
    """
    from cnnlstm.cli.output import resolve_out_dir
    from cnnlstm.cli.preflight import check_specs, check_tracking

    tree = research_tree(args)
    check_specs(get_path(tree, "data.source", "sim"), get_path(tree, "data.benchmark"))
    check_tracking(bool(get_path(tree, "tracking.enabled", True)))
    if hasattr(args, "out"):
        args.out = str(resolve_out_dir(args.out, command))


def research_params(args: argparse.Namespace):
    """The `ResearchParams` of a command line (config file + flags + `--set`).

    Raises:
        UserInputError: a setting is invalid; the message names its field path.
    """
    from cnnlstm.flows.params import ResearchParams

    return validate(ResearchParams, research_tree(args), what="backtest settings")
