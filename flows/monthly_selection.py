"""The monthly selection flow: the decision month's stocks, picked with the champion CNN.

Input contract: `MonthlyParams` (a form in the Prefect UI). The decision month of `as_of` is the
next month from the last session of `as_of`'s month on, else `as_of`'s month; its selection
needs the bars through the last session before it (the rebalance date). Steps: that session must
be complete and the data must reach it (else the run fails red with the dates: a dead feed never
publishes an old month's selection); the CNN features of the month from those bars; the champion
CNN of the data's dataset (none: the run fails red naming what to run; refused if trained on
another dataset), with the selection size of the champion's run (the flow's own, if given, must
match). Training on the spot happens only when asked (`retrain`, or `max_model_age_days`); that
model is registered as a challenger and never promoted here. Publish
`live/<dataset>/selection-YYYY-MM.parquet` (read by the daily timing flow), a Prefect table
artifact and an MLflow run. Every month after the last published one through the decision month
is published in order (a missed month end is made up). A month already published is kept (the
run says so) unless `replace`, so the flow can be scheduled after every close: it selects once,
right after the month's last session.
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
from cnnlstm.core.sessions import SessionCalendar
from cnnlstm.flows.live import (
    LiveParams,
    agree,
    champion,
    champion_checkpoint,
    live_dir,
    live_lock,
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
from cnnlstm.flows.stages.training import train_cnn_stage
from cnnlstm.infra import tracking
from cnnlstm.infra.artifacts import ArtifactRef
from cnnlstm.tasks.features import CnnFeatureConfig
from cnnlstm.tasks.live.orders import decision_month
from cnnlstm.tasks.strategy.select import SelectionConfig, select_top
from cnnlstm.tasks.training.networks import CnnTrainConfig, score_cnn


class MonthlyParams(LiveParams):
    """What the monthly selection takes."""

    retrain: bool = Field(
        False,
        description="train a new CNN on the spot and select with it (registered, never promoted)",
    )
    max_model_age_days: int | None = Field(
        None, ge=1, description="retrain (never promoted) when the champion is older than this"
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
    published: list[date] = Field(default_factory=list)


def _months_before(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _champion_too_old(params: MonthlyParams) -> bool:
    """Whether the champion is older than `max_model_age_days` (an explicit retraining).

    Raises:
        NoChampionError: the dataset has no champion and `retrain` is not set.
    """
    from mlflow import MlflowClient

    version = tracking.alias_version(params.registered_name("cnn"), params.alias)
    if version is None:
        if params.retrain:
            return True
        champion("cnn", params)  # raises NoChampionError naming what to run
    if params.max_model_age_days is None:
        return False
    created = MlflowClient().get_model_version(version.name, version.version).creation_timestamp
    return (time.time() - created / 1000) / 86400 > params.max_model_age_days


def published_months(dataset: str) -> list[date]:
    """The months whose selection the dataset's live folder holds, in order."""
    names = sorted(live_dir(dataset).glob("selection-*.parquet"))
    return [date(int(p.stem[10:14]), int(p.stem[15:17]), 1) for p in names]


def months_to_publish(published: list[date], target: date, *, replace: bool) -> list[date]:
    """The target month and every month after the last published one before it (a catch-up)."""
    if replace or not published or published[-1] >= target:
        return [target]
    out, month = [], published[-1]
    while month < target:
        month = _months_before(month, -1)
        out.append(month)
    return out


def _kept(params: MonthlyParams, cal: SessionCalendar, month: date) -> SelectionOutcome | None:
    """The month's published selection when it must be kept (no `replace`)."""
    published = selection_path(params.dataset_key(), month)
    if not published.exists() or params.replace:
        return None
    kept = pl.read_parquet(published)
    get_run_logger().info(f"{month:%Y-%m}: selection already published ({published}); kept")
    return SelectionOutcome(
        month=month,
        rebalance_date=cal.previous_session(month),
        symbols=kept["symbol"].to_list(),
        path=str(published),
        model="(published before)",
        model_source="published",
    )


def _model(
    params: MonthlyParams, run: StageRunner, features_ref: ArtifactRef, month: date, tmp: Path
) -> tuple[Path, str, str, SelectionConfig]:
    """(checkpoint, model name, source, selection config) of the month's model.

    The champion, or an explicit retraining registered as a challenger (never promoted here:
    only the backtest's gate or `cnnlstm promote` moves the champion).
    """
    if params.retrain or _champion_too_old(params):
        period = Period(start=_months_before(month, params.train_months), end=_day_before(month))
        trained = run(train_cnn_stage, features_ref, params.cnn, period)
        checkpoint = trained.checkpoint.local_path()
        tracking.log_files([checkpoint], "checkpoints/cnn")
        registered = tracking.register_checkpoint(
            trained.checkpoint, params.registered_name("cnn"), tags=params.dataset().tags()
        )
        model = f"{registered.name} v{registered.version}"
        return checkpoint, model, "retrained", params.selection or SelectionConfig()
    found = champion("cnn", params)
    checkpoint = champion_checkpoint(found, "cnn", tmp)
    logged = settings_from_run(found.params, found.run_id).selection
    selection_cfg = agree("selection", params.selection, logged, found)
    return checkpoint, f"{found.name} v{found.version}", f"@{params.alias}", selection_cfg


@flow(
    name="monthly_selection",
    description="Select the decision month's stocks with the champion CNN.",
    flow_run_name=run_namer("monthly-selection"),
    timeout_seconds=TIMEOUTS["monthly_selection"],
)
def monthly_selection_flow(params: MonthlyParams = MonthlyParams()) -> SelectionOutcome:  # noqa: B008
    """Publish the selection of the decision month of `as_of` (and of every missed month)."""
    params.require_source()  # never the simulator in production, never no source
    logger = get_run_logger()
    cal = params.calendar_of()
    day = params.day()
    target = decision_month(day, cal.month_last_session(day))
    dataset = params.dataset_key()
    months = months_to_publish(published_months(dataset), target, replace=params.replace)
    if len(months) == 1 and (kept := _kept(params, cal, target)) is not None:
        return kept  # a month's selection never changes quietly
    if len(months) > 1 and params.retrain:
        raise UserInputError(
            f"months {', '.join(f'{m:%Y-%m}' for m in months[:-1])} were never published: a "
            f"model retrained for {target:%Y-%m} would select them with later data; publish "
            "them first with the champion (run without retrain)"
        )
    rebalance = cal.previous_session(target)
    require_closed(cal, rebalance, params)
    run = StageRunner()
    ingested = run(live_ingest(), params.data, input_fingerprint(params.data, today=day))
    bars = run(bars_as_of, ingested, rebalance)
    last = bars.read_table()["date"].max()
    require_fresh(
        last, rebalance, what=f"the selection for {target:%Y-%m}", source=params.data.source
    )
    feature_cfg = params.cnn_features.model_copy(update={"next_month": "always"})
    # the source's membership table (e.g. Qlib's instruments/csi300.txt): only the members on
    # the rebalance date are scored and selected, as in the backtest
    features_ref = run(cnn_features, bars, feature_cfg, ingested.universe)
    features = features_ref.read_table()
    tracking.configure()
    with tempfile.TemporaryDirectory() as tmp, tracking.tracked_run(params.experiment) as mlrun:
        tracking.log_params(params.model_dump(mode="json"))
        checkpoint, model, source, selection_cfg = _model(
            params, run, features_ref, target, Path(tmp)
        )
        with live_lock(dataset):
            for month in months:  # point in time: month m's features use bars before m only
                selection = _publish(dataset, month, features, checkpoint, selection_cfg)
                logger.info(f"{month:%Y-%m}: {selection.height} stocks selected with {model}")
        tracking.log_params({"selection_month": str(target), "model": model})
    publish_table(selection, "monthly-selection", f"Selection for {target:%Y-%m} ({model})")
    publish_link(tracking.run_link(mlrun.info.run_id), "mlflow-selection-run", "MLflow run")
    return SelectionOutcome(
        month=target,
        rebalance_date=rebalance,
        symbols=selection["symbol"].to_list(),
        path=str(selection_path(dataset, target)),
        model=model,
        model_source=source,
        stages=run.states,
        published=months,
    )


def _publish(
    dataset: str,
    month: date,
    features: pl.DataFrame,
    checkpoint: Path,
    cfg: SelectionConfig,
) -> pl.DataFrame:
    """Score and select one month; write its scores, then its selection (the commit)."""
    current = features.filter(pl.col("month") == month)
    if current.height == 0:
        raise UserInputError(
            f"no CNN features for {month:%Y-%m} (features end {features['month'].max()}): "
            "too few eligible stocks?"
        )
    scores = score_cnn(checkpoint, current)
    selection = select_top(scores, cfg)
    tracking.log_frame(selection, f"selection/{month:%Y-%m}.csv")
    write_atomic(scores, scores_path(dataset, month))
    write_atomic(selection, selection_path(dataset, month))
    return selection


def _day_before(day: date) -> date:
    return date.fromordinal(day.toordinal() - 1)
