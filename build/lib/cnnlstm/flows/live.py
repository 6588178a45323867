"""What the scheduled flows share: the live folder, the champion's checkpoint, the trading calendar.

Input contract: the data directory (`cnnlstm.core.paths.data_home`) and the MLflow registry of
`infra.tracking`. The published selection of month t is `live/selection-YYYY-MM.parquet`; the
daily timing state is `live/timing-state.json` (the month and each symbol's decisions so far);
each day's orders are `live/orders-YYYY-MM-DD.parquet`. Files are written atomically.
"""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.paths import data_home
from cnnlstm.flows.params import DataParams
from cnnlstm.infra import tracking


class LiveParams(BaseModel):
    """Settings shared by the scheduled flows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: DataParams = Field(
        default_factory=DataParams, description="the source to ingest new bars from"
    )
    as_of: date | None = Field(None, description="the day to act for; none: today")
    model_prefix: str = Field("cnnlstm", description="registered models <prefix>-cnn/-lstm")
    alias: str = Field(tracking.CHAMPION, description="registry alias of the production models")

    def day(self) -> date:
        """The day the flow acts for."""
        return self.as_of or date.today()


def live_dir() -> Path:
    """The folder of published selections, timing state and orders."""
    path = data_home() / "live"
    path.mkdir(parents=True, exist_ok=True)
    return path


def selection_path(month: date) -> Path:
    """Where month `month`'s published selection lives."""
    return live_dir() / f"selection-{month:%Y-%m}.parquet"


def write_atomic(frame_or_text: pl.DataFrame | str, path: Path) -> Path:
    """Write a frame (Parquet) or text to `path` through a temporary file."""
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(frame_or_text, pl.DataFrame):
        frame_or_text.write_parquet(tmp)
    else:
        tmp.write_text(frame_or_text)
    os.replace(tmp, path)
    return path


def read_state() -> dict:
    """The daily timing state (empty before the first run)."""
    path = live_dir() / "timing-state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_state(state: dict) -> Path:
    """Persist the daily timing state for the next day's run."""
    return write_atomic(
        json.dumps(state, indent=1, sort_keys=True), live_dir() / "timing-state.json"
    )


def champion_checkpoint(network: str, params: LiveParams, dest: Path) -> tuple[Path, str]:
    """Download the checkpoint of `<prefix>-<network>@<alias>`; returns (path, version).

    Raises:
        UserInputError: no version carries the alias, or its run holds no checkpoint.
    """
    import mlflow

    name = f"{params.model_prefix}-{network}"
    version = tracking.alias_version(name, params.alias)
    if version is None:
        raise UserInputError(
            f"no model {name!r} is tagged @{params.alias} in {tracking.tracking_uri()}: run the "
            "backtest flow (it registers challengers and promotes by its rule), promote a version "
            "with `cnnlstm promote`, or run with retrain=True"
        )
    folder = mlflow.artifacts.download_artifacts(
        run_id=version.run_id, artifact_path=f"checkpoints/{network}", dst_path=str(dest)
    )
    found = sorted(Path(folder).glob("*.ckpt"))
    if not found:
        raise UserInputError(f"run {version.run_id} of {name} v{version.version} has no checkpoint")
    return found[0], version.version


def is_last_weekday_of_month(day: date) -> bool:
    """Whether no weekday of `day`'s month follows it (the month's last session, by weekdays)."""
    following = day + timedelta(days=1)
    while following.weekday() >= 5:
        following += timedelta(days=1)
    return following.month != day.month
