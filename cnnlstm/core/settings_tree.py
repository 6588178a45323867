"""Settings as nested mappings addressed by dotted paths, and `START:END` periods.

One setter, one getter, one merge and one period parser for every entry point that builds
parameters from text: the command line's `--config`/flags/`--set`, a sweep's grid, and
`ResearchParams.with_overrides` (which the Prefect form and deployments reach through pydantic).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from cnnlstm.core.errors import UserInputError


def get_path(tree: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at dotted `path` in a nested mapping, or `default`."""
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    """Set dotted `path` in a nested dict, creating the mappings on the way.

    A section that holds None (a field left to its default, e.g. `cnn`) becomes a mapping.

    Raises:
        UserInputError: a part of the path holds a value that is not a mapping.
    """
    parts = path.split(".")
    node = tree
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise UserInputError(f"setting {path}: {where} is a value ({child!r}), not a section")
        node = child
    node[parts[-1]] = value


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` merged into `base`, nested mappings merged key by key (`over` wins)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_period(text: str) -> tuple[date, date]:
    """`START:END` (ISO dates) as two dates.

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


def validation_problems(err: ValidationError) -> str:
    """A pydantic error as `path.to.field: message` parts joined by `; `."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not _is_union_tag(p)) or "settings"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (see `cnnlstm config show` for the fields)"
        parts.append(f"{loc}: {msg}")
    return "; ".join(dict.fromkeys(parts))


def _is_union_tag(part: Any) -> bool:
    """Pydantic puts the union member's type name into an error path (`cnn.CnnTrainConfig.x`)."""
    return isinstance(part, str) and part[:1].isupper()
