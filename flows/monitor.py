"""The monitor flow: once a month's labels are known, how did the live model do?

Input contract: `MonitorParams` and the live folder: the CNN scores the monthly flow published
(`live/scores-YYYY-MM.parquet`) and the LSTM signals the daily flow decided
(`live/signals-YYYY-MM-DD.parquet`). For every published month whose last session has closed
and whose bars the data hold (`tasks.live.monitor`): the realized rank IC of the month's scores and
the LSTM's realized hit rate over the month's decisions (labels the champion run's hold days
later, from its execution price, so a decision near the month's end is scored once its horizon
has passed). Both are logged to MLflow
(experiment `cnnlstm-monitor`, one run per monitor run, step = yyyymm) with a table artifact.
When the rank IC (or the hit rate) is below its floor for the last `k_months` months, the run
fails red with the numbers (the failed-run automation notifies).
"""

from __future__ import annotations

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.live import LiveParams
from cnnlstm.flows.ops import TIMEOUTS, live_ingest, run_namer
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import bars_as_of, input_fingerprint
from cnnlstm.flows.stages.live import live_champion, monitored_months
from cnnlstm.flows.stages.publish import publish_table
from cnnlstm.infra import tracking
from cnnlstm.tasks.live.monitor import MonthQuality, quality_alerts


class MonitorAlert(UserInputError):
    """The live model's realized quality stayed below its floor for k months."""


class MonitorParams(LiveParams):
    """What the monitor takes."""

    rank_ic_floor: float = Field(0.0, description="alert when the rank IC stays below this")
    hit_rate_floor: float = Field(0.5, ge=0, le=1, description="alert below this hit rate")
    k_months: int = Field(3, ge=1, le=24, description="months in a row below a floor to alert")
    experiment: str = Field("cnnlstm-monitor", description="MLflow experiment")


class MonitorOutcome(BaseModel):
    """What the monitor found."""

    model_config = ConfigDict(frozen=True)

    months: list[MonthQuality]
    alerts: list[str] = Field(default_factory=list)


@flow(
    name="monitor",
    description="Realized rank IC and LSTM hit rate of the live model per month.",
    flow_run_name=run_namer("monitor"),
    timeout_seconds=TIMEOUTS["monitor"],
)
def monitor_flow(params: MonitorParams = MonitorParams()) -> MonitorOutcome:  # noqa: B008
    """Score every complete published month; log to MLflow; alert under the floors."""
    params.require_source()  # never the simulator in production, never no source
    logger = get_run_logger()
    cal = params.calendar_of()
    done = cal.last_completed_session(params.clock(), params.delay(), until=params.as_of)
    run = StageRunner()
    ingested = run(live_ingest(), params.data, input_fingerprint(params.data, today=done))
    bars = run(bars_as_of, ingested, done)
    lstm = run(live_champion, params.champion_query("lstm"))  # hold days, execution: its run's
    months = run(monitored_months, params.dataset_key(), cal, bars, lstm.settings, done)
    alerts = quality_alerts(
        months, rank_ic_floor=params.rank_ic_floor, hit_rate_floor=params.hit_rate_floor,
        k=params.k_months,
    )  # fmt: skip
    table = pl.DataFrame([m.model_dump() for m in months]) if months else pl.DataFrame()
    with tracking.tracked_run(params.experiment, tags={"dataset": params.dataset().dataset}):
        tracking.log_params(params.model_dump(mode="json"))
        for m in months:
            step = m.month.year * 100 + m.month.month
            values = {"live.rank_ic": m.rank_ic, "live.lstm_hit_rate": m.hit_rate}
            tracking.log_metrics({k: v for k, v in values.items() if v is not None}, step=step)
        if months:
            tracking.log_frame(table, "monitor/months.csv")
            publish_table(table, "live-monitor", "Realized quality of the live model per month")
    for m in months:
        logger.info(
            f"{m.month:%Y-%m}: rank IC {m.rank_ic} ({m.ic_stocks} stocks), LSTM hit rate "
            f"{m.hit_rate} +- {m.hit_rate_se} ({m.decisions} decisions)"
        )
    if alerts:
        raise MonitorAlert("; ".join(alerts))
    return MonitorOutcome(months=months, alerts=alerts)
