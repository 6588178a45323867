"""A sweep's points: a grid of parameter overrides expanded over a base `ResearchParams`.

Input contract: a base `ResearchParams`, a grid `{dotted.path: [values, ...]}` whose paths name
fields of `ResearchParams` (`selection.top_fraction`, `cnn.seed`, `lstm.hidden`, `market`, ...),
and optional seeds (shorthand for the same seed on both networks: `cnn.seed` and
`lstm.seed`). `expand_grid` returns one validated `SweepPoint` per combination (the cartesian
product, in the grid's order), so a bad path or value fails before any backtest starts.
`comparison_table` lays the points' results side by side: the overridden parameters, then the
chosen metrics.

Overrides are applied by `ResearchParams.with_overrides`, the one dotted-path setter every entry
point shares: `cnn.*` / `lstm.*` paths start from the profile's training configuration when the
base leaves it unset, so overriding one field keeps the profile's others.
"""

from __future__ import annotations

import itertools
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, ValidationError

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.settings_tree import validation_problems
from cnnlstm.flows.params import ResearchParams


class SweepPoint(BaseModel):
    """One combination of the grid: its label, its overrides and the full parameters."""

    model_config = ConfigDict(frozen=True)

    label: str
    overrides: dict[str, Any]
    params: ResearchParams


class PointResult(BaseModel):
    """What one point's backtest produced: its MLflow run and its flattened metrics."""

    model_config = ConfigDict(frozen=True)

    label: str
    overrides: dict[str, Any]
    run_id: str | None
    metrics: dict[str, float]


def _check_path(fields: dict[str, Any], path: str) -> None:
    """Refuse a grid path that names no field of the research parameters."""
    node: Any = fields
    walked: list[str] = []
    for name in path.split("."):
        walked.append(name)
        if not isinstance(node, dict) or name not in node:
            raise UserInputError(f"sweep grid: {'.'.join(walked)!r} is not a parameter")
        node = node[name]


def _label(overrides: dict[str, Any]) -> str:
    """A short readable name of a point: `selection.top_fraction=0.02,cnn.seed=1`."""
    return ",".join(f"{k}={v}" for k, v in overrides.items()) or "base"


def expand_grid(
    base: ResearchParams,
    grid: dict[str, list[Any]],
    seeds: list[int] | None = None,
    *,
    max_points: int = 64,
) -> list[SweepPoint]:
    """Every combination of `grid` (and `seeds`) applied to `base`, validated.

    Args:
        base: The parameters every point starts from.
        grid: Dotted parameter paths and the values each takes.
        seeds: Seeds for both networks (`cnn.seed` and `lstm.seed` together).
        max_points: Refuse grids larger than this (a typo should not start 10,000 runs).

    Returns:
        The points, in the grid's order (the last path varies fastest, then the seed).

    Raises:
        UserInputError: an unknown path, an empty value list, a value a field rejects, a seed
            path also in the grid, or more points than `max_points`.
    """
    axes: list[list[dict[str, Any]]] = []
    for path, values in grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise UserInputError(f"sweep grid: {path!r} needs a non-empty list of values")
        axes.append([{path: v} for v in values])
    if seeds:
        clash = sorted({"cnn.seed", "lstm.seed"} & grid.keys())
        if clash:
            raise UserInputError(f"sweep: give seeds either as `seeds` or in the grid ({clash})")
        axes.append([{"cnn.seed": s, "lstm.seed": s} for s in seeds])
    count = 1
    for axis in axes:
        count *= len(axis)
    if count > max_points:
        raise UserInputError(f"sweep grid has {count} points, more than max_points={max_points}")
    fields = base.effective().model_dump()
    for path in {k for axis in axes for part in axis for k in part}:
        _check_path(fields, path)
    points: list[SweepPoint] = []
    for combo in itertools.product(*axes):
        overrides = {k: v for part in combo for k, v in part.items()}
        label = _label(overrides)
        try:
            params = base.with_overrides(overrides).effective()
        except ValidationError as err:
            raise UserInputError(f"sweep point {label}: {validation_problems(err)}") from None
        points.append(SweepPoint(label=label, overrides=overrides, params=params))
    return points


def comparison_table(results: list[PointResult], metrics: list[str]) -> pl.DataFrame:
    """One row per point: label, MLflow run, the overridden parameters, then `metrics`.

    A metric a point lacks (e.g. a Sharpe ratio undefined on a flat curve) is null.
    """
    params = list(dict.fromkeys(k for r in results for k in r.overrides))
    rows = [
        {
            "point": r.label,
            "mlflow_run": r.run_id,
            **{k: str(r.overrides.get(k)) for k in params},
            **{m: r.metrics.get(m) for m in metrics},
        }
        for r in results
    ]
    schema = {"point": pl.Utf8, "mlflow_run": pl.Utf8}
    schema |= {k: pl.Utf8 for k in params} | {m: pl.Float64 for m in metrics}
    return pl.DataFrame(rows, schema=schema)
