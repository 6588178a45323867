"""Configuration files and `--set` overrides for the commands that run a flow.

One reusable path from what the user typed to a typed parameter model:

    tree = load_config(args.config)                 # YAML file (or {}), a nested dict
    set_path(tree, "data.source", "csv:DIR")        # shorthand flags, each at its field path
    apply_sets(tree, args.set)                      # --set path.to.field=value, last wins
    params = validate(ResearchParams, tree)         # errors name the field path

Precedence: the config file, then the command's shorthand flags, then `--set` (in order).
A `--set` value is read as a YAML scalar or flow collection (`3`, `0.5`, `true`, `null`,
`[16, 32]`, `{close: Adj Close}`), anything else as text. `cnnlstm config show` prints the
effective configuration as YAML; saving that output and passing it as `--config` gives the
same run.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.settings_tree import get_path, set_path, validation_problems

# re-exported: the commands build their trees and messages with them
__all__ = ["get_path", "set_path", "validation_problems"]

M = TypeVar("M", bound=BaseModel)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--config FILE` and the repeatable `--set PATH=VALUE` to a command's parser."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="YAML file of settings (see configs/ and `cnnlstm config show`)",
    )
    parser.add_argument(
        "--set",
        dest="set",
        action="append",
        type=parse_assignment,
        default=[],
        metavar="PATH=VALUE",
        help="set one field by its dotted path, e.g. --set selection.top_fraction=0.05 "
        "(repeatable; wins over --config and the other flags)",
    )


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one `path.to.field=value` (the value read as YAML)."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path or any(not part for part in path.split(".")):
        raise argparse.ArgumentTypeError(f"expected PATH=VALUE (a.b.c=1), got {text!r}")
    return path, parse_value(raw.strip())


def parse_value(raw: str) -> Any:
    """A `--set` value: YAML (numbers, booleans, null, [lists], {maps}) where it parses, else text.

    Dates stay text (pydantic parses them into the field's type).
    """
    try:
        value = yaml.load(raw, Loader=_NoDatesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return raw
    return raw if value is None and raw not in ("null", "~", "None", "none") else value


class _NoDatesLoader(yaml.SafeLoader):
    """YAML's safe loader, YAML 1.2 style: dates stay ISO text, only true/false are booleans.

    (YAML 1.1 reads `no`, `off`, `y` as booleans: `--set tracking.experiment=no` would fail.)
    """


_DROPPED = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
_NoDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_NoDatesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_config(path: Path | None) -> dict[str, Any]:
    """The settings of a YAML config file as a nested dict (`{}` without a file).

    Raises:
        UserInputError: the file is missing, unreadable, not YAML or not a mapping.
    """
    if path is None:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise UserInputError(f"cannot read config file {path}: {err.strerror}") from None
    try:
        tree = yaml.load(text, Loader=_NoDatesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise UserInputError(f"config file {path} is not valid YAML: {err}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise UserInputError(f"config file {path}: expected a mapping of settings at the top")
    return tree


def apply_sets(tree: dict[str, Any], assignments: Iterable[tuple[str, Any]]) -> None:
    """Apply `--set` assignments in order."""
    for path, value in assignments:
        set_path(tree, path, value)


def validate(model: type[M], tree: Mapping[str, Any], *, what: str = "settings") -> M:
    """Validate a settings tree into `model`.

    Raises:
        UserInputError: one line per invalid field, each naming the field's dotted path.
    """
    try:
        return model.model_validate(tree)
    except ValidationError as err:
        raise UserInputError(f"invalid {what}: {validation_problems(err)}") from None


def to_yaml(params: BaseModel | Mapping[str, Any]) -> str:
    """A parameter model (or a dict) as YAML, fields in declaration order."""
    data = params.model_dump(mode="json") if isinstance(params, BaseModel) else dict(params)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
