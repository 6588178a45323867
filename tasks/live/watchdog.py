"""Which sessions a scheduled production deployment should have run on, and missed.

Input contract: the times a deployment's schedule fired in a window (aware datetimes, from the
deployment's own schedules), the deployment's flow runs in that window (expected start time and
state type), and the exchange's `SessionCalendar`. A fire time is expected only when its local
date (in the exchange's time zone) is a session: weekends and holidays are never gaps. A session
is covered when a run expected on that date reached COMPLETED, FAILED or CRASHED (a failed run
raises its own alert); no run, or one still SCHEDULED, LATE, PENDING or CANCELLED, is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from cnnlstm.core.sessions import SessionCalendar

#: States of a run that did run (a failure alerts through the failed-run automation).
RAN = frozenset({"COMPLETED", "FAILED", "CRASHED"})


@dataclass(frozen=True)
class Expectation:
    """One fire time of a deployment's schedule and what the calendar says of its day."""

    deployment: str
    due: datetime
    session: date
    expected: bool
    reason: str  # "session", or why the day is not one (the weekend day, the holiday's name)
    covered: bool

    def line(self) -> str:
        """One readable line."""
        if not self.expected:
            return f"{self.deployment} {self.session}: not a session ({self.reason}), not expected"
        state = "ran" if self.covered else "MISSED: no run reached a final state"
        return f"{self.deployment} {self.session} (due {self.due:%Y-%m-%d %H:%M %Z}): {state}"


def expectations(
    deployment: str,
    fire_times: Iterable[datetime],
    runs: Iterable[tuple[datetime, str]],
    cal: SessionCalendar,
) -> list[Expectation]:
    """Each fire time of `deployment` with whether its day is a session and whether it ran."""
    zone = ZoneInfo(cal.tz)
    ran_on = {start.astimezone(zone).date() for start, state in runs if state in RAN}
    out = []
    for due in sorted(fire_times):
        local = due.astimezone(zone)
        day = local.date()
        session = cal.is_session(day)
        out.append(
            Expectation(
                deployment=deployment,
                due=local,
                session=day,
                expected=session,
                reason="session" if session else cal.closed_reason(day),
                covered=day in ran_on,
            )
        )
    return out


def missed(found: Iterable[Expectation]) -> list[Expectation]:
    """The expected sessions no run covered."""
    return [e for e in found if e.expected and not e.covered]
