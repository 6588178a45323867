"""What the runner-equality tests of walk_forward share (Dask, Ray): the tiny run and its output."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
from prefect.artifacts import Artifact

from cnnlstm.flows.params import Period, Protocol, ResearchParams, TrackingParams
from cnnlstm.flows.runners import TaskRunnerConfig
from cnnlstm.flows.walk_forward import WalkForwardParams
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig


def tiny_walk_forward(tiny_data, runner: TaskRunnerConfig, experiment: str) -> WalkForwardParams:
    """Three test months on the tiny market, trained tiny, every stage recomputed."""
    research = ResearchParams(
        data=tiny_data,
        protocol=Protocol(
            train=Period(start=date(2011, 3, 1), end=date(2012, 12, 31)),  # ignored here
            test=Period(start=date(2013, 1, 1), end=date(2013, 3, 31)),
        ),
        cnn=CnnTrainConfig(epochs=2, batch_size=256),
        lstm=LstmTrainConfig(epochs=2, batch_size=256),
        lstm_windows={"max_windows_per_month": 60},
        tracking=TrackingParams(experiment=experiment, register_models=False),
        refresh=True,  # the second run recomputes every stage instead of reading the first's
    )
    return WalkForwardParams(research=research, train_months=12, lstm_every=2, task_runner=runner)


def published_selection() -> pl.DataFrame:
    """The selection table the latest walk-forward run published (month, symbol, score, rank)."""
    artifact = Artifact.get("walk-forward-selection")
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    return pl.DataFrame(rows).sort("month", "rank")
