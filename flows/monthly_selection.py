"""The monthly selection flow: the decision month's stocks, picked with the champion CNN.

Input contract: `MonthlyParams` (a form in the Prefect UI). The decision month of `as_of` is the
next month from the last session of `as_of`'s month on, else `as_of`'s month; its selection
needs the bars through the last session before it (the rebalance date). Steps: that session must
be complete and the data must reach it (else the run fails red with the dates: a dead feed never
publishes an old month's selection); the CNN features of the month from those bars; the champion
CNN of the data's dataset (refused if trained on another; or a retraining when asked, when there
is none, or when it is older than `max_model_age_days`), with the selection size of the
champion's run (the flow's own, if given, must match); publish `live/selection-YYYY-MM.parquet`
(read by the daily timing flow), a Prefect table artifact and an MLflow run. A month already
published is kept (the run says so) unless `replace`, so the flow can be scheduled after every
close: it selects once, right after the month's last session.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.live import (
    Champion,
    LiveParams,
    agree,
    champion,
    champion_checkpoint,
    require_closed,
    require_fresh,
    scores_path,
    selection_path,
    settings_from_run,
    write_atomic,
)
from cnnlstm.flows.ops import TIMEOUTS, live_ingest, run_namer
from cnnlstm.flows.params import Period
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import bars_as_of, cnn_features, input_fingerprint
from cnnlstm.flows.stages.publish import publish_link, publish_table
from cnnlstm.flows.stages.track import input_example
from cnnlstm.flows.stages.training import train_cnn_stage
from cnnlstm.infra import tracking
from cnnlstm.tasks.features import CnnFeatureConfig
from cnnlstm.tasks.live.orders import decision_month
from cnnlstm.tasks.strategy.select import SelectionConfig, select_top
from cnnlstm.tasks.training.loop import load_classifier
from cnnlstm.tasks.training.networks import CnnTrainConfig, score_cnn


class MonthlyParams(LiveParams):
    """What the monthly selection takes."""

    retrain: bool = Field(False, description="train a new CNN instead of loading the champion")
    max_model_age_days: int | None = Field(
        None, ge=1, description="retrain when the champion is older than this (none: never)"
    )
    train_months: int = Field(84, ge=6, description="months of history a retraining uses")
    cnn_features: CnnFeatureConfig = Field(default_factory=CnnFeatureConfig)
    cnn: CnnTrainConfig = Field(default_factory=CnnTrainConfig)
    selection: SelectionConfig | None = Field(
        None, description="selection size; none: the champion run's (a value must match it)"
    )
    experiment: str = Field("cnnlstm-monthly-selection", description="MLflow experiment")
    replace: bool = Field(
        False, description="re-select a month already published (else the run keeps it)"
    )


class SelectionOutcome(BaseModel):
    """What a monthly selection run published."""

    model_config = ConfigDict(frozen=True)

    month: date
    rebalance_date: date
    symbols: list[str]
    path: str
    model: str
    model_source: str
    stages: dict[str, str] = Field(default_factory=dict)


def _months_before(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _champion_is_stale(params: MonthlyParams) -> bool:
    """Whether the champion is missing or older than `max_model_age_days`."""
    from mlflow import MlflowClient

    version = tracking.alias_version(params.registered_name("cnn"), params.alias)
    if version is None:
        return True
    if params.max_model_age_days is None:
        return False
    created = MlflowClient().get_model_version(version.name, version.version).creation_timestamp
    return (time.time() - created / 1000) / 86400 > params.max_model_age_days


@flow(
    name="monthly_selection",
    description="Select the decision month's stocks with the champion CNN.",
    flow_run_name=run_namer("monthly-selection"),
    timeout_seconds=TIMEOUTS["monthly_selection"],
)
def monthly_selection_flow(params: MonthlyParams = MonthlyParams()) -> SelectionOutcome:  # noqa: B008
    """Publish the selection of the decision month of `as_of`."""
    params.require_source()  # never the simulator in production, never no source
    logger = get_run_logger()
    cal = params.calendar_of()
    day = params.day()
    month = decision_month(day, cal.month_last_session(day))
    rebalance = cal.previous_session(month)
    published = selection_path(month)
    if published.exists() and not params.replace:  # a month's selection never changes quietly
        kept = pl.read_parquet(published)
        logger.info(f"{month:%Y-%m}: selection already published ({published}); kept")
        return SelectionOutcome(
            month=month,
            rebalance_date=rebalance,
            symbols=kept["symbol"].to_list(),
            path=str(published),
            model="(published before)",
            model_source="published",
        )
    require_closed(cal, rebalance, params)
    run = StageRunner()
    ingested = run(live_ingest(), params.data, input_fingerprint(params.data, today=day))
    bars = run(bars_as_of, ingested, rebalance)
    last = bars.read_table()["date"].max()
    require_fresh(
        last, rebalance, what=f"the selection for {month:%Y-%m}", source=params.data.source
    )
    feature_cfg = params.cnn_features.model_copy(update={"next_month": "always"})
    features_ref = run(cnn_features, bars, feature_cfg)
    features = features_ref.read_table()
    current = features.filter(pl.col("month") == month)
    if current.height == 0:
        raise UserInputError(
            f"no CNN features for {month:%Y-%m} from bars through {rebalance} (features end "
            f"{features['month'].max()}): too few eligible stocks?"
        )
    tracking.configure()
    with tempfile.TemporaryDirectory() as tmp, tracking.tracked_run(params.experiment) as mlrun:
        tracking.log_params(params.model_dump(mode="json"))
        found: Champion | None = None
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
                registered_name=params.registered_name("cnn"),
                input_example=input_example("cnn", 30),
                tags=params.dataset().tags(),
            )
            model, source = f"{registered.name} v{registered.version}", "retrained"
            if tracking.alias_version(registered.name, params.alias) is None:
                tracking.promote(registered.name, registered.version, params.alias)
            selection_cfg = params.selection or SelectionConfig()
        else:
            found = champion("cnn", params)
            checkpoint = champion_checkpoint(found, "cnn", Path(tmp))
            model, source = f"{found.name} v{found.version}", f"@{params.alias}"
            logged = settings_from_run(found.params, found.run_id).selection
            selection_cfg = agree("selection", params.selection, logged, found)
        scores = score_cnn(checkpoint, current)
        selection = select_top(scores, selection_cfg)
        tracking.log_frame(selection, f"selection/{month:%Y-%m}.csv")
        tracking.log_params({"selection_month": str(month), "model": model})
    write_atomic(scores, scores_path(month))
    path = write_atomic(selection, selection_path(month))
    publish_table(selection, "monthly-selection", f"Selection for {month:%Y-%m} ({model})")
    publish_link(tracking.run_link(mlrun.info.run_id), "mlflow-selection-run", "MLflow run")
    logger.info(f"{month:%Y-%m}: {selection.height} stocks selected with {model} ({source})")
    return SelectionOutcome(
        month=month,
        rebalance_date=rebalance,
        symbols=selection["symbol"].to_list(),
        path=str(path),
        model=model,
        model_source=source,
        stages=run.states,
    )


def _day_before(day: date) -> date:
    return date.fromordinal(day.toordinal() - 1)
