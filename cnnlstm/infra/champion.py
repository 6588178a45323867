"""Which model is the champion a live flow may use, with the settings it was trained with.

The champion of a network is the version of `<prefix>-<dataset>-<network>` carrying the
production alias (default `champion`). Nothing unvetted goes live: no such version is a
`NoChampionError` naming what to run; a version whose lineage tags name another dataset is a
`LineageError`. The live settings (window, hold days, execution, selection size) are read from
the champion run's logged parameters (`settings_from_run`); a flow's own value must equal the
champion's (`agree`) or the run fails naming both. How a challenger becomes champion (the
promotion gate) is `tracking.promote_by_rule` / `cnnlstm promote`; this module only reads.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from cnnlstm.core.errors import UserInputError
from cnnlstm.infra import tracking
from cnnlstm.tasks.strategy.select import SelectionConfig


class NoChampionError(UserInputError):
    """The dataset has no production model: nothing unvetted goes live."""


class LineageError(UserInputError):
    """The champion was trained on another dataset, or its settings differ from the flow's."""


class Champion(BaseModel):
    """The production model a live flow uses, with its lineage and its run's parameters."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    run_id: str
    tags: dict[str, str]
    params: dict[str, str]

    @property
    def label(self) -> str:
        """`<name> v<version>`, as the outcomes and logs name it."""
        return f"{self.name} v{self.version}"


class ChampionQuery(BaseModel):
    """Where to look for a champion and what a refusal tells the user to run."""

    model_config = ConfigDict(frozen=True)

    name: str  # the registered model
    alias: str = tracking.CHAMPION
    lineage: tracking.Lineage  # the live data's: the champion's tags must equal it
    source: str  # the live source (named in the refusal)
    market: str


def find_champion(query: ChampionQuery) -> Champion:
    """The `<name>@<alias>` version, refused if its lineage differs from the live data's.

    Raises:
        NoChampionError: no version of the dataset carries the alias.
        LineageError: the version's tags name another dataset (or none).
    """
    version = tracking.alias_version(query.name, query.alias)
    if version is None:
        raise NoChampionError(
            f"no model {query.name!r} is tagged @{query.alias} in {tracking.tracking_uri()} "
            f"(dataset {query.lineage.dataset}, source {query.source}): run `cnnlstm backtest` "
            f"(the backtest flow) on this source with market {query.market} (it registers "
            "challengers and promotes by its gate), or promote a version with `cnnlstm promote`"
        )
    tags = tracking.version_tags(query.name, version.version)
    check_lineage(tags, query.lineage, f"{query.name} v{version.version}")
    return Champion(
        name=query.name,
        version=version.version,
        run_id=version.run_id,
        tags=tags,
        params=tracking.run_params(version.run_id),
    )


def check_lineage(tags: dict[str, str], expected: tracking.Lineage, what: str) -> None:
    """Refuse a model whose lineage tags differ from the live data's.

    Raises:
        LineageError: naming each differing tag.
    """
    wanted = expected.tags()
    wrong = {k: (tags.get(k), v) for k, v in wanted.items() if tags.get(k) != v}
    if wrong:
        detail = ", ".join(f"{k}: model {a!r}, live data {b!r}" for k, (a, b) in wrong.items())
        raise LineageError(
            f"{what} was not trained on this dataset ({detail}); train and promote a model on "
            f"{expected.dataset} instead of using it"
        )


def champion_age_days(query: ChampionQuery) -> float | None:
    """Days since the champion version was registered (None: there is no champion)."""
    from mlflow import MlflowClient

    version = tracking.alias_version(query.name, query.alias)
    if version is None:
        return None
    created = MlflowClient().get_model_version(version.name, version.version).creation_timestamp
    return (time.time() - created / 1000) / 86400


def champion_checkpoint(found: Champion, network: str, dest: Path) -> Path:
    """Download the champion run's checkpoint of `network` into `dest`.

    Raises:
        UserInputError: the run holds no checkpoint.
    """
    import mlflow

    folder = mlflow.artifacts.download_artifacts(
        run_id=found.run_id, artifact_path=f"checkpoints/{network}", dst_path=str(dest)
    )
    checkpoints = sorted(Path(folder).glob("*.ckpt"))
    if not checkpoints:
        raise UserInputError(f"run {found.run_id} of {found.label} has no checkpoint")
    return checkpoints[0]


class LiveSettings(BaseModel):
    """The settings a live flow takes from the champion's run."""

    model_config = ConfigDict(frozen=True)

    window: int
    hold_days: int
    execution: Literal["open", "close"]
    selection: SelectionConfig


#: Where each live setting is logged in a research run (flattened `ResearchParams`), first found.
_SETTING_KEYS = {
    "window": ("lstm_windows.window",),
    "hold_days": ("protocol.hold_days", "lstm_windows.horizon"),
    "execution": ("protocol.execution", "lstm_windows.execution"),
}


def _logged(params: dict[str, str], keys: tuple[str, ...], what: str, run: str) -> str:
    for key in keys:
        if key in params:
            return params[key]
    raise LineageError(f"champion run {run} logged no {what} ({' or '.join(keys)})")


def settings_from_run(run_params: dict[str, str], run_id: str) -> LiveSettings:
    """Read window, hold days, execution and selection size from a research run's parameters."""
    selection: dict[str, Any] = {}
    for field in ("top_fraction", "top_count", "min_count"):
        value = run_params.get(f"selection.{field}")
        if value is not None and value != "None":
            selection[field] = value
    return LiveSettings(
        window=int(_logged(run_params, _SETTING_KEYS["window"], "window", run_id)),
        hold_days=int(_logged(run_params, _SETTING_KEYS["hold_days"], "hold days", run_id)),
        execution=_logged(run_params, _SETTING_KEYS["execution"], "execution", run_id),
        selection=SelectionConfig(**selection),
    )


def agree(name: str, override: Any, champion_value: Any, found: Champion) -> Any:
    """The champion's value of a setting; a flow's own value (not None) must equal it.

    Raises:
        LineageError: the override differs from what the champion was trained with.
    """
    if override is not None and override != champion_value:
        raise LineageError(
            f"{name}={override!r} differs from the champion's {champion_value!r} "
            f"({found.label}, run {found.run_id}): drop the override or "
            "train and promote a model with it"
        )
    return champion_value


def require_next_open(settings: LiveSettings, found: Champion) -> None:
    """A run after the close trades at the next open: the champion must be trained for it.

    Raises:
        LineageError: the champion was trained for execution at the close.
    """
    if settings.execution != "open":
        raise LineageError(
            f"{found.label} was trained for execution={settings.execution!r}: a flow run "
            "after the close can only trade at the next open (execution='open')"
        )
