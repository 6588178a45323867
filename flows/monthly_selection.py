"""The monthly selection flow: as of a day, pick the month's stocks with the production CNN.

Input contract: `MonthlyParams` (a form in the Prefect UI). Steps: ingest what is new into the
store, cut the bars at `as_of`, build the CNN features, take the checkpoint of the model tagged
`champion` in the MLflow registry (or retrain on the history before the month when asked, when
there is none, or when it is older than `max_model_age_days`), score the latest month whose
decision the data allow, select its top fraction and publish it: `live/selection-YYYY-MM.parquet`
(read by the daily timing flow), a Prefect table artifact and an MLflow run.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger
from pydantic import Field

from cnnlstm.flows.live import LiveParams, champion_checkpoint, selection_path, write_atomic
from cnnlstm.flows.params import Period
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import bars_as_of, cnn_features, ingest, input_fingerprint
from cnnlstm.flows.stages.publish import publish_link, publish_table
from cnnlstm.flows.stages.track import input_example
from cnnlstm.flows.stages.training import train_cnn_stage
from cnnlstm.infra import tracking
from cnnlstm.tasks.features import CnnFeatureConfig
from cnnlstm.tasks.select import SelectionConfig, select_top
from cnnlstm.tasks.train import CnnTrainConfig, score_cnn
from cnnlstm.tasks.train_loop import load_classifier


class MonthlyParams(LiveParams):
    """What the monthly selection takes."""

    retrain: bool = Field(False, description="train a new CNN instead of loading the champion")
    max_model_age_days: int | None = Field(
        None, ge=1, description="retrain when the champion is older than this (none: never)"
    )
    train_months: int = Field(84, ge=6, description="months of history a retraining uses")
    cnn_features: CnnFeatureConfig = Field(default_factory=CnnFeatureConfig)
    cnn: CnnTrainConfig = Field(default_factory=CnnTrainConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    experiment: str = Field("cnnlstm-monthly-selection", description="MLflow experiment")


def _months_before(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _champion_is_stale(params: MonthlyParams) -> bool:
    """Whether the champion is missing or older than `max_model_age_days`."""
    from mlflow import MlflowClient

    version = tracking.alias_version(f"{params.model_prefix}-cnn", params.alias)
    if version is None:
        return True
    if params.max_model_age_days is None:
        return False
    created = MlflowClient().get_model_version(version.name, version.version).creation_timestamp
    return (time.time() - created / 1000) / 86400 > params.max_model_age_days


@flow(name="monthly_selection", description="Select this month's stocks with the champion CNN.")
def monthly_selection_flow(params: MonthlyParams = MonthlyParams()) -> dict:  # noqa: B008
    """Publish the selection of the latest month the data allow a decision for."""
    logger = get_run_logger()
    run = StageRunner()
    day = params.day()
    ingested = run(ingest, params.data, input_fingerprint(params.data, today=day))
    bars = run(bars_as_of, ingested, day)
    features_ref = run(cnn_features, bars, params.cnn_features)
    features = features_ref.read_table()
    month = features["month"].max()
    current = features.filter(pl.col("month") == month)
    tracking.configure()
    with tempfile.TemporaryDirectory() as tmp, tracking.tracked_run(params.experiment) as mlrun:
        tracking.log_params(params.model_dump(mode="json"))
        if params.retrain or _champion_is_stale(params):
            period = Period(
                start=_months_before(month, params.train_months), end=_day_before(month)
            )
            trained = run(train_cnn_stage, features_ref, params.cnn, period)
            checkpoint = trained.checkpoint.local_path()
            tracking.log_files([checkpoint], "checkpoints/cnn")
            registered = tracking.log_network(
                load_classifier(checkpoint),
                name="cnn",
                registered_name=f"{params.model_prefix}-cnn",
                input_example=input_example("cnn", 30),
            )
            version, source = registered.version, "retrained"
            if tracking.alias_version(registered.name, params.alias) is None:
                tracking.promote(registered.name, version, params.alias)
        else:
            checkpoint, version = champion_checkpoint("cnn", params, Path(tmp))
            source = f"@{params.alias}"
        selection = select_top(score_cnn(checkpoint, current), params.selection)
        tracking.log_frame(selection, f"selection/{month:%Y-%m}.csv")
        tracking.log_params({"selection_month": str(month), "model_version": version})
    path = write_atomic(selection, selection_path(month))
    publish_table(selection, "monthly-selection", f"Selection for {month:%Y-%m} (CNN v{version})")
    publish_link(tracking.run_link(mlrun.info.run_id), "mlflow-selection-run", "MLflow run")
    logger.info(f"{month:%Y-%m}: {selection.height} stocks selected with CNN v{version} ({source})")
    return {"month": month, "symbols": selection["symbol"].to_list(), "path": str(path),
            "model_version": version, "model_source": source, "stages": run.states}  # fmt: skip


def _day_before(day: date) -> date:
    return date.fromordinal(day.toordinal() - 1)
