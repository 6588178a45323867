"""The data health flow: does the feed reach the last completed session? Run before live flows.

Input contract: `HealthParams` (the live flows' settings: source, market calendar, delay). It
ingests what is new, then reports per source (the bars and the benchmark) the latest date
against the last completed session (close + `data_delay_minutes`; with `as_of`: that day, or the
session before it when it is not one), the symbols missing on that session and the suspended
share (`tasks.data.health`). A stale source fails the run red with the dates (a Prefect
automation can then notify); the report is a Prefect markdown artifact and the typed outcome.
"""

from __future__ import annotations

from prefect import flow
from prefect.logging import get_run_logger
from pydantic import Field

from cnnlstm.flows.live import LiveParams, StaleDataError
from cnnlstm.flows.ops import TIMEOUTS, live_ingest, run_namer
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import input_fingerprint
from cnnlstm.flows.stages.publish import publish_markdown
from cnnlstm.tasks.data.health import DataHealth, data_health


class HealthParams(LiveParams):
    """What the data health check takes."""

    lookback_sessions: int = Field(
        5, ge=1, le=60, description="sessions before the last one that define 'recent' symbols"
    )
    fail_when_stale: bool = Field(True, description="a stale source fails the run")


@flow(
    name="data_health",
    description="Check that the feed reaches the last completed session.",
    flow_run_name=run_namer("data-health"),
    timeout_seconds=TIMEOUTS["data_health"],
)
def data_health_flow(params: HealthParams = HealthParams()) -> DataHealth:  # noqa: B008
    """Report the data's freshness, missing symbols and suspended share; fail when stale."""
    params.require_source()  # never the simulator in production, never no source
    logger = get_run_logger()
    cal = params.calendar_of()
    if params.as_of is None:
        needed = cal.last_completed_session(params.clock(), params.delay())
    else:
        day = params.as_of
        needed = day if cal.is_session(day) else cal.previous_session(day)
    run = StageRunner()
    ingested = run(live_ingest(), params.data, input_fingerprint(params.data, today=needed))
    bars = ingested.bars.read_table()
    benchmark = ingested.benchmark.read_table() if ingested.benchmark is not None else None
    before = [cal.previous_session(needed)]
    while len(before) < params.lookback_sessions:
        before.append(cal.previous_session(before[-1]))
    bars = bars.filter(bars["date"] <= needed) if params.as_of is not None else bars
    health = data_health(
        bars, needed, sessions_before=before, benchmark=benchmark, source=params.data.source
    )
    text = "\n".join(f"- {line}" for line in health.lines())
    publish_markdown(
        f"# Data health for {needed} ({cal.name})\n\n{text}", "data-health", "Data health"
    )
    for line in health.lines():
        logger.info(line)
    if params.fail_when_stale and not health.fresh:
        stale = [s for s in health.sources if not s.fresh]
        raise StaleDataError(
            "stale data: "
            + "; ".join(
                f"{s.name} ends {s.last_date or 'with no bars'}, needed {s.needed}" for s in stale
            )
        )
    return health
