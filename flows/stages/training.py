"""The network stages as cached Prefect tasks: train the CNN, train the LSTM, and their outputs.

Input contract: the `cnn_features` table artifact (`stages.data.cnn_features`) and the labelled
LSTM window arrays (`stages.data.lstm_windows`: `x` (N, window, 6), `y` (N,), `date`, `symbol`).
Each training writes its best checkpoint as a content-addressed artifact and returns a
`TrainedRef`: the checkpoint's reference, the best epoch's metrics and the per-epoch history
(kept small and inline, so MLflow can log the curves without re-training).

How a training runs is this process's (`cnnlstm.infra.runtime`): the stage sets the process up
(the first training of a Dask or Ray worker process passes here) and hands the fit the thread
count and the profiler chosen there. The configs' runtime fields (threads, devices, precision,
progress bar) are not part of the stage's cache key, so changing them reuses a cached training.

Look-ahead guard: the CNN trains only on months that end on or before the training period's last
day (their labels are known by then); the LSTM windows were cut at that day by their stage.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import polars as pl
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.params import Period
from cnnlstm.flows.stages.cache import stage_task
from cnnlstm.flows.stages.data import windows_from_arrays
from cnnlstm.infra import runtime
from cnnlstm.infra.artifacts import ArtifactRef, store_file
from cnnlstm.tasks.training.networks import (
    CnnTrainConfig,
    LstmTrainConfig,
    TrainedModel,
    train_cnn,
    train_lstm,
)


class TrainedRef(BaseModel):
    """A trained network: its checkpoint artifact, best-epoch metrics and per-epoch history."""

    model_config = ConfigDict(frozen=True)

    network: str
    checkpoint: ArtifactRef
    metrics: dict[str, float] = Field(default_factory=dict)
    history: list[dict[str, float]] = Field(default_factory=list)


def training_months(features: pl.DataFrame, train: Period) -> pl.DataFrame:
    """Rows of months that start on or after `train.start` and end on or before `train.end`.

    A month ending after `train.end` is left out: its label (the month's return) is not known
    on the training period's last day.
    """
    month = pl.col("month")
    return features.filter(
        (month >= train.start.replace(day=1)) & (month.dt.month_end() <= train.end)
    )


def _progress(stage: str) -> Any:
    """A progress artifact for a long stage (0% at the start)."""
    return create_progress_artifact(0.0, description=f"{stage}: training")


@stage_task("train_cnn", version=1)
def train_cnn_stage(features: ArtifactRef, cfg: CnnTrainConfig, train: Period) -> TrainedRef:
    """Train the CNN ranker on the training period's labelled months."""
    table = training_months(features.read_table(), train)
    if table.height == 0:
        raise UserInputError(f"no CNN feature rows in the training period {train}")
    run = _set_up(cfg.threads)
    return _train_and_store("cnn", lambda out: train_cnn(table, cfg, out, **run))


@stage_task("train_lstm", version=1)
def train_lstm_stage(windows: ArtifactRef, cfg: LstmTrainConfig) -> TrainedRef:
    """Train the LSTM timer on the stored training windows."""
    data = windows_from_arrays(windows.read_arrays())
    run = _set_up(cfg.threads)
    return _train_and_store("lstm", lambda out: train_lstm(data, cfg, out, **run))


def _set_up(configured: int | None) -> dict[str, Any]:
    """Set this process up for training (once); the thread count and profiler a fit uses."""
    runtime.set_up_process()
    choice = runtime.choose_threads(configured)
    get_run_logger().info(f"torch threads: {choice.threads} ({choice.reason})")
    return {"threads": choice.threads, "profiler": runtime.profiler()}


def _train_and_store(network: str, fit: Callable[[str], TrainedModel]) -> TrainedRef:
    """Run `fit` in a scratch folder with a progress artifact; store its best checkpoint."""
    from cnnlstm.tasks.training.progress import summary  # Lightning: only when training

    logger = get_run_logger()
    stage = f"train_{network}"
    progress = _progress(stage)
    with tempfile.TemporaryDirectory() as tmp:
        trained = fit(tmp)
        update_progress_artifact(progress, 90.0)
        checkpoint = store_file(trained.checkpoint, stage, kind="checkpoint")
    update_progress_artifact(progress, 100.0)
    logger.info(f"{network}: {len(trained.history)} epochs; best: {summary(trained.metrics)}")
    return TrainedRef(
        network=network,
        checkpoint=checkpoint,
        metrics=_floats(trained.metrics),
        history=[_floats(row) for row in trained.history],
    )


def _floats(row: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a metrics mapping as plain floats."""
    return {k: float(v) for k, v in row.items() if isinstance(v, (int, float))}
