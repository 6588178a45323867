"""The data health flow: does the feed reach the last completed session? Run before live flows.

Input contract: `HealthParams` (the live flows' settings: source, market calendar, delay). Today
(or `as_of`) past the calendar's last day fails red; a calendar ending within
`calendar_warn_sessions` sessions (default 20) is a warning in the report. It ingests what is
new, then reports per source (the bars and the benchmark) the latest date against today's
expected session (the last one completed: close + `data_delay_minutes`; with `as_of`: that day,
or the session before it when it is not one; never the calendar's last day), the symbols
missing on that session and the suspended share (`tasks.data.health`). A stale source fails
the run red with the dates (a Prefect automation can then notify); the report is a Prefect
markdown artifact and the typed outcome.
"""

from __future__ import annotations

from datetime import date

from prefect import flow
from prefect.logging import get_run_logger
from pydantic import Field

from cnnlstm.core.sessions import CalendarEndedError, SessionCalendar
from cnnlstm.flows.live import LiveParams
from cnnlstm.flows.ops import TIMEOUTS, live_ingest, run_namer
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import input_fingerprint
from cnnlstm.flows.stages.publish import publish_markdown
from cnnlstm.tasks.data.health import DataHealth, data_health
from cnnlstm.tasks.live.sessions import StaleDataError


class HealthParams(LiveParams):
    """What the data health check takes."""

    lookback_sessions: int = Field(
        5, ge=1, le=60, description="sessions before the last one that define 'recent' symbols"
    )
    fail_when_stale: bool = Field(True, description="a stale source fails the run")
    calendar_warn_sessions: int = Field(
        20, ge=0, le=250, description="warn when the calendar ends within this many sessions"
    )


def calendar_warnings(cal: SessionCalendar, today: date, within: int) -> list[str]:
    """A warning when the calendar ends within `within` sessions of `today`.

    Raises:
        CalendarEndedError: `today` is past the calendar's last day (every live run would fail).
    """
    if today > cal.last:
        raise CalendarEndedError(
            f"today {today} is past the {cal.name} calendar's last day {cal.last}: no session "
            "is known, so every live flow fails; add the exchange's published holidays with "
            "`calendar_extra: FILE` (docs/DEPLOY.md) or update exchange-calendars"
        )
    left = cal.sessions_left(today)
    if left > within:
        return []
    return [
        f"the {cal.name} calendar ends {cal.last}, {left} sessions from {today}: add next "
        "year's holidays (`calendar_extra: FILE`, docs/DEPLOY.md) before then, or every live "
        "flow fails from the first day after it"
    ]


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
    warnings = calendar_warnings(cal, params.day(), params.calendar_warn_sessions)
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
    ).model_copy(update={"warnings": warnings})
    for warning in warnings:
        logger.warning(warning)
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
