"""Which sessions and months a live run acts for, and the guards that make a dead feed red.

A live run acts for a day: the session's close plus the feed's delay must have passed
(`require_closed`, else `TooEarlyError`) and the data must reach the session it needs
(`require_fresh`, else `StaleDataError`), so a dead feed is red, never a quiet green. A day
the exchange is closed is a `NoSession` (a green no-op naming the holiday). A run processes
every session (daily timing) or month (monthly selection) it missed, in order, before its own.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.months import add_months
from cnnlstm.core.sessions import SIM_CALENDAR, SessionCalendar, calendar_from_sessions
from cnnlstm.tasks.data.sources.sim_calendar import FIXED_HOLIDAYS, trading_calendar


class StaleDataError(UserInputError):
    """The data do not reach the session a live flow needs (a dead or late feed)."""


class TooEarlyError(UserInputError):
    """The session a live flow acts for has not closed (plus the data delay) yet."""


class MissedSessionsError(UserInputError):
    """Sessions between the state's last day and the target were not processed."""


class NoSession(BaseModel):
    """A day the exchange is closed: the flow did nothing, and says why."""

    model_config = ConfigDict(frozen=True)

    day: date
    calendar: str
    reason: str

    @property
    def message(self) -> str:
        """One line for the log."""
        return f"{self.day} is not a {self.calendar} session: {self.reason}; nothing to do"


def no_session(cal: SessionCalendar, day: date) -> NoSession | None:
    """Why the exchange is closed on `day`, or None on a session."""
    if cal.is_session(day):
        return None
    return NoSession(day=day, calendar=cal.name, reason=cal.closed_reason(day))


def sim_session_calendar(start: date, end: date) -> SessionCalendar:
    """The simulated market's own sessions (weekdays less its fixed holidays), Shanghai time."""
    cal = trading_calendar(start, end)
    days = [d.astype(object) for d in cal.days]
    names = {1: "New Year's Day", 5: "Labour Day", 10: "National Day"}
    holidays: dict[date, str] = {}
    for year in range(start.year, end.year + 1):
        for month, day in FIXED_HOLIDAYS:
            holidays[date(year, month, day)] = names.get(month, "holiday")
    return calendar_from_sessions(
        SIM_CALENDAR,
        days,
        tz="Asia/Shanghai",
        close=time(15, 0),
        holiday_names=holidays,
        first=start,
        last=end,
    )


def require_closed(cal: SessionCalendar, session: date, now: datetime, delay: timedelta) -> None:
    """Fail unless `session`'s close plus the data delay has passed at `now`.

    Raises:
        TooEarlyError: the session is not complete yet.
    """
    ready = cal.close_at(session) + delay
    if now < ready:
        raise TooEarlyError(
            f"{cal.name} session {session} is not complete: its close plus the data delay "
            f"({delay.total_seconds() / 60:.0f} min) is {ready.isoformat()}, now is "
            f"{now.astimezone(ready.tzinfo).isoformat()}"
        )


def require_fresh(last_bar: date | None, needed: date, *, what: str, source: str) -> None:
    """Fail when the data's last bar comes before the session the flow needs.

    Raises:
        StaleDataError: with both dates and the source.
    """
    if last_bar is None or last_bar < needed:
        raise StaleDataError(
            f"stale data: {what} needs bars through {needed}, but {source} ends "
            f"{last_bar or 'with no bars'}; is the feed down? (run `cnnlstm data-health`)"
        )


def sessions_to_process(
    cal: SessionCalendar, last: date | None, target: date, *, catch_up: bool
) -> list[date]:
    """The sessions a run for `target` processes: those after `last` through `target`.

    Raises:
        MissedSessionsError: sessions were missed and `catch_up` is False.
    """
    if last is None or target <= last:
        return [target]
    pending = cal.sessions(cal.next_session(last), target)
    if len(pending) > 1 and not catch_up:
        missed = ", ".join(str(d) for d in pending[:-1])
        raise MissedSessionsError(
            f"the timing state ends {last}: sessions {missed} were never processed; run with "
            f"catch_up=True (the default) to process them in order before {target}"
        )
    return pending


def months_to_publish(published: list[date], target: date, *, replace: bool) -> list[date]:
    """The target month and every month after the last published one before it (a catch-up)."""
    if replace or not published or published[-1] >= target:
        return [target]
    out, month = [], published[-1]
    while month < target:
        month = add_months(month, 1)
        out.append(month)
    return out


def refuse_retrain_with_missed(months: list[date], retrain: bool) -> None:
    """A retrained model never selects a missed month (it would use later data).

    Raises:
        UserInputError: months before the target were never published and `retrain` is set.
    """
    if len(months) > 1 and retrain:
        raise UserInputError(
            f"months {', '.join(f'{m:%Y-%m}' for m in months[:-1])} were never published: a "
            f"model retrained for {months[-1]:%Y-%m} would select them with later data; publish "
            "them first with the champion (run without retrain)"
        )
