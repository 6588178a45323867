"""The research parameters from the command line: config file, shorthand flags, `--set`.

Shared by every command that runs the research protocol (`backtest`, `walk-forward`,
`config show`): `add_research_arguments` adds the flags, `research_params` turns them into the
same typed `ResearchParams` the Prefect form builds. Each shorthand flag writes one field path
(`--source` is `data.source`, `--train` is `protocol.train`, ...), so a flag, a config file
entry and a `--set` are three spellings of the same setting.
"""

from __future__ import annotations

import argparse
from datetime import date
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


def parse_period(text: str) -> tuple[date, date]:
    """`START:END` (ISO dates) as two dates (what `Period.parse` reads, without its imports).

    Raises:
        UserInputError: not two ISO dates separated by a colon, or END not after START.
    """
    start, sep, end = text.partition(":")
    try:
        first, last = date.fromisoformat(start.strip()), date.fromisoformat(end.strip())
    except ValueError:
        raise UserInputError(f"period {text!r}: use START:END as YYYY-MM-DD:YYYY-MM-DD") from None
    if not sep or last <= first:
        raise UserInputError(f"period {text!r}: END must come after START")
    return first, last


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


def complete_tree(tree: dict[str, Any]) -> dict[str, Any]:
    """Fill what the settings leave to defaults that depend on other settings.

    - no (or a partial) training/test period: the paper's split, or for the simulated market
      the paper's proportions fitted to its span, under what was given;
    - a `--set cnn.x` / `lstm.x` without the rest of that section: the profile's configuration
      with `x` changed (not the class defaults).

    Raises:
        UserInputError: the data section is invalid.
    """
    from cnnlstm.flows.params import DataParams, Protocol, ResearchParams

    tree = dict(tree)
    protocol = dict(tree.get("protocol") or {})
    train, test = protocol.get("train") or {}, protocol.get("test") or {}
    if not (_whole(train) and _whole(test)):
        data = validate(DataParams, tree.get("data") or {}, what="data settings")
        paper = Protocol.paper()
        base = ResearchParams.default_sim(data=data).protocol if data.is_sim else paper
        tree["protocol"] = _merge(base.model_dump(include={"train", "test"}), protocol)
    for section in ("cnn", "lstm"):
        given = tree.get(section)
        if isinstance(given, dict) and "profile" not in given:
            profile = tree.get("profile", "fast")
            base_params = validate(ResearchParams, {"profile": profile}, what="settings")
            filled = getattr(base_params, f"{section}_config")().model_dump(mode="json")
            tree[section] = _merge(filled, given)
    return tree


def _whole(period: Any) -> bool:
    return isinstance(period, dict) and "start" in period and "end" in period


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` merged into `base`, nested mappings merged key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def research_params(args: argparse.Namespace):
    """The `ResearchParams` of a command line (config file + flags + `--set`).

    Raises:
        UserInputError: a setting is invalid; the message names its field path.
    """
    from cnnlstm.flows.params import ResearchParams

    tree = complete_tree(research_tree(args))
    return validate(ResearchParams, tree, what="backtest settings")


def effective(params) -> Any:
    """The parameters with the profile-filled training sections spelled out (what runs)."""
    return params.model_copy(update={"cnn": params.cnn_config(), "lstm": params.lstm_config()})
