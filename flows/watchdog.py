"""The watchdog flow: did every production deployment run on every session it should have?

Prefect's proactive automations count hours, not sessions: a 26-hour "no run completed" window
fires every weekend (70 h from Friday's runs to Monday's) and every holiday. The watchdog asks
the calendar instead. Input contract: `WatchdogParams` and the Prefect server the run talks to.
For each deployment tagged `tag` (default `production`; the watchdog's own deployment is left
out), it takes the times its active schedules fired in the last `lookback_days` (up to `grace`
ago, so a run still in progress is not called missing), keeps those whose local day is a session
of the exchange calendar, and looks for a run expected on that day that reached a final state
(`tasks.live.watchdog`). A missed session fails the run red naming the deployment, the session
and the due time; the failed-run automation (flows/automations.py) then notifies. The watchdog
itself runs every day; the `cnnlstm-live-watchdog-silent` automation notifies when it stops
running (a dead scheduler or worker).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Literal

from prefect import flow
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.sessions import calendar_name, exchange_calendar
from cnnlstm.flows.stages.publish import publish_markdown
from cnnlstm.tasks.live.watchdog import Expectation, expectations, missed

WATCHDOG_TAG = "watchdog"


class MissedSessionError(UserInputError):
    """A production deployment did not run on a session it was scheduled for."""


class WatchdogParams(BaseModel):
    """What the watchdog checks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    market: Literal["cn", "us"] = Field("cn", description="market preset: the exchange calendar")
    calendar: str | None = Field(None, description="exchange-calendars code overriding it")
    tag: str = Field("production", description="deployments with this tag are watched")
    lookback_days: int = Field(4, ge=1, le=31, description="days of schedule to check")
    grace_minutes: int = Field(
        120, ge=0, le=24 * 60, description="a run due less than this long ago is not missing yet"
    )
    now: datetime | None = Field(None, description="the clock (tests); none: the real time")

    def clock(self) -> datetime:
        """The current time, timezone-aware."""
        now = self.now or datetime.now(UTC)
        return now if now.tzinfo else now.replace(tzinfo=UTC)


def _fire_times(schedule, start: datetime, end: datetime) -> list[datetime]:  # noqa: ANN001
    """When a deployment schedule fired in [start, end], from Prefect's own schedule model."""
    from prefect.server.schemas import schedules as server

    kind = type(schedule).__name__
    model = getattr(server, kind, None)
    if model is None or not hasattr(model, "get_dates"):
        return []
    dates = asyncio.run(model(**schedule.model_dump()).get_dates(n=1000, start=start, end=end))
    return [datetime.fromtimestamp(d.timestamp(), UTC) for d in dates]


def watched(params: WatchdogParams, cal) -> list[Expectation]:  # noqa: ANN001
    """Every fire time of every watched deployment in the window, with what the calendar says."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        DeploymentFilterTags,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )

    now = params.clock()
    start, end = (
        now - timedelta(days=params.lookback_days),
        now - timedelta(minutes=params.grace_minutes),
    )
    found: list[Expectation] = []
    with get_client(sync_client=True) as client:
        tagged = DeploymentFilter(tags=DeploymentFilterTags(all_=[params.tag]))
        for deployment in client.read_deployments(deployment_filter=tagged):
            if WATCHDOG_TAG in (deployment.tags or []):
                continue
            fires = [
                t
                for s in deployment.schedules or []
                if s.active
                for t in _fire_times(s.schedule, start, end)
            ]
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    expected_start_time=FlowRunFilterExpectedStartTime(
                        after_=start - timedelta(days=1), before_=now
                    )
                ),
            )
            seen = [(r.expected_start_time, r.state_type.value) for r in runs if r.state_type]
            found += expectations(deployment.name, fires, seen, cal)
    return found


@flow(
    name="watchdog",
    description="Did every production deployment run on every session it was scheduled for?",
    flow_run_name="watchdog/{params.market}",
    timeout_seconds=600,
)
def watchdog_flow(params: WatchdogParams = WatchdogParams()) -> list[str]:  # noqa: B008
    """Check the watched deployments' sessions; fail red naming each missed one."""
    logger = get_run_logger()
    cal = exchange_calendar(calendar_name(params.market, params.calendar))
    found = watched(params, cal)
    lines = [e.line() for e in found]
    publish_markdown(
        f"# Watchdog ({cal.name}, last {params.lookback_days} days)\n\n"
        + "\n".join(f"- {line}" for line in lines or ["no scheduled run in the window"]),
        "watchdog",
        "Production runs per session",
    )
    for line in lines:
        logger.info(line)
    gaps = missed(found)
    if gaps:
        raise MissedSessionError(
            f"{len(gaps)} scheduled production run(s) missed on {cal.name} sessions: "
            + "; ".join(f"{e.deployment} on {e.session} (due {e.due:%H:%M %Z})" for e in gaps)
        )
    return lines
