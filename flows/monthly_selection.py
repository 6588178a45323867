"""The monthly selection flow: the decision month's stocks, picked with the champion CNN.

Input contract: `MonthlyParams` (a form in the Prefect UI). The decision month of `as_of` is the
next month from the last session of `as_of`'s month on, else `as_of`'s month; its selection
needs the bars through the last session before it (the rebalance date). Steps: that session must
be complete and the data must reach it (else the run fails red with the dates: a dead feed never
publishes an old month's selection); the CNN features of the month from those bars; the champion
CNN of the data's dataset (none: the run fails red naming what to run; refused if trained on
another dataset), with the selection size of the champion's run (the flow's own, if given, must
match). Training on the spot happens only when asked (`retrain`, or `max_model_age_days`); that
model is registered as a challenger (once per checkpoint) and never promoted here. Each month
is a chain of stages (`flows.stages.live`): its scores and its selection (cached on the
features and the checkpoint), then its publication. Publish
`live/<dataset>/selection-YYYY-MM.parquet` (read by the daily timing flow), a Prefect table
artifact and an MLflow run. Every month after the last published one through the decision month
is published in order (a missed month end is made up). A month already published is kept (the
run says so) unless `replace`, so the flow can be scheduled after every close: it selects once,
right after the month's last session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.months import add_months
from cnnlstm.flows.live import LiveParams
from cnnlstm.flows.ops import TIMEOUTS, live_ingest, run_namer
from cnnlstm.flows.params import Period
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import bars_as_of, cnn_features, input_fingerprint
from cnnlstm.flows.stages.live import (
    MonthPlan,
    champion_age,
    live_champion,
    live_checkpoint,
    live_scores,
    live_selection,
    month_plan,
    publish_month,
    register_network,
)
from cnnlstm.flows.stages.publish import publish_link, publish_table
from cnnlstm.flows.stages.training import train_cnn_stage
from cnnlstm.infra import tracking
from cnnlstm.infra.artifacts import ArtifactRef
from cnnlstm.infra.champion import agree
from cnnlstm.tasks.features import CnnFeatureConfig
from cnnlstm.tasks.live.files import live_lock, selection_path
from cnnlstm.tasks.live.orders import decision_month
from cnnlstm.tasks.live.sessions import refuse_retrain_with_missed, require_fresh
from cnnlstm.tasks.strategy.select import SelectionConfig
from cnnlstm.tasks.training.networks import CnnTrainConfig


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


@dataclass(frozen=True)
class _Model:
    """The month's model: its checkpoint, name, where it came from and the selection size."""

    checkpoint: ArtifactRef
    label: str
    source: str
    selection: SelectionConfig


def _champion_too_old(run: StageRunner, params: MonthlyParams) -> bool:
    """Whether the champion is older than `max_model_age_days` (an explicit retraining).

    Raises:
        NoChampionError: the dataset has no champion.
    """
    if params.max_model_age_days is None:
        return False
    age = run(champion_age, params.champion_query("cnn"))
    if age is None:
        run(
            live_champion, params.champion_query("cnn")
        )  # raises NoChampionError naming what to run
    return age > params.max_model_age_days


def _model(run: StageRunner, params: MonthlyParams, features: ArtifactRef, month: date) -> _Model:
    """The champion, or an explicit retraining registered as a challenger.

    Never promoted here: only the backtest's gate or `cnnlstm promote` moves the champion.
    """
    if params.retrain or _champion_too_old(run, params):
        period = Period(
            start=add_months(month, -params.train_months), end=month - timedelta(days=1)
        )
        trained = run(train_cnn_stage, features, params.cnn, period)
        label = run(
            register_network, trained, params.registered_name("cnn"), params.dataset().tags()
        )
        return _Model(trained.checkpoint, label, "retrained", params.selection or SelectionConfig())
    found = run(live_champion, params.champion_query("cnn"))
    checkpoint = run(live_checkpoint, found.champion, "cnn")
    cfg = agree("selection", params.selection, found.settings.selection, found.champion)
    return _Model(checkpoint, found.champion.label, f"@{params.alias}", cfg)


def _kept(plan: MonthPlan, rebalance: date) -> SelectionOutcome:
    """The month's published selection, kept (a month's selection never changes quietly)."""
    month = plan.months[-1]
    get_run_logger().info(f"{month:%Y-%m}: selection already published ({plan.kept_path}); kept")
    return SelectionOutcome(
        month=plan.months[-1],
        rebalance_date=rebalance,
        symbols=plan.kept,
        path=plan.kept_path,
        model="(published before)",
        model_source="published",
    )


@flow(
    name="monthly_selection",
    description="Select the decision month's stocks with the champion CNN.",
    flow_run_name=run_namer("monthly-selection"),
    timeout_seconds=TIMEOUTS["monthly_selection"],
)
def monthly_selection_flow(params: MonthlyParams = MonthlyParams()) -> SelectionOutcome:  # noqa: B008
    """Publish the selection of the decision month of `as_of` (and of every missed month)."""
    params.require_source()  # never the simulator in production, never no source
    cal, day = params.calendar_of(), params.day()
    target = decision_month(day, cal.month_last_session(day))
    dataset = params.dataset_key()
    run = StageRunner()
    plan = run(month_plan, dataset, target, params.replace)
    rebalance = cal.previous_session(target)
    if plan.kept is not None:
        return _kept(plan, rebalance)
    refuse_retrain_with_missed(plan.months, params.retrain)
    params.require_closed(cal, rebalance)
    ingested = run(live_ingest(), params.data, input_fingerprint(params.data, today=day))
    bars = run(bars_as_of, ingested, rebalance)
    require_fresh(
        date.fromisoformat(bars.meta["last"]), rebalance,
        what=f"the selection for {target:%Y-%m}", source=params.data.source,
    )  # fmt: skip
    feature_cfg = params.cnn_features.model_copy(update={"next_month": "always"})
    # the source's membership table (e.g. Qlib's instruments/csi300.txt): only the members on
    # the rebalance date are scored and selected, as in the backtest
    features = run(cnn_features, bars, feature_cfg, ingested.universe)
    tracking.configure()
    with tracking.tracked_run(params.experiment) as mlrun:
        tracking.log_params(params.model_dump(mode="json"))
        model = _model(run, params, features, target)
        with live_lock(dataset):
            selection = _publish_months(run, dataset, plan.months, features, model)
        tracking.log_params({"selection_month": str(target), "model": model.label})
    publish_table(selection, "monthly-selection", f"Selection for {target:%Y-%m} ({model.label})")
    publish_link(tracking.run_link(mlrun.info.run_id), "mlflow-selection-run", "MLflow run")
    return SelectionOutcome(
        month=target, rebalance_date=rebalance, symbols=selection["symbol"].to_list(),
        path=str(selection_path(dataset, target)), model=model.label,
        model_source=model.source, stages=run.states, published=plan.months,
    )  # fmt: skip


def _publish_months(
    run: StageRunner, dataset: str, months: list[date], features: ArtifactRef, model: _Model
) -> pl.DataFrame:
    """Score, select and publish each month in order; returns the last month's selection."""
    logger = get_run_logger()
    for month in months:  # point in time: month m's features use bars before m only
        tag = f" {month:%Y-%m}"
        scores = run(live_scores, features, model.checkpoint, month, label=f"live_scores{tag}")
        picked = run(live_selection, scores, model.selection, label=f"live_selection{tag}")
        run(publish_month, dataset, month, scores, picked, label=f"publish_month{tag}")
        logger.info(f"{month:%Y-%m}: {picked.rows} stocks selected with {model.label}")
    return picked.read_table()
