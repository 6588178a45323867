"""Exchange sessions: is a day a session, the month's last session, the last completed session.

The calendars come from `exchange-calendars` (XSHG for A-shares, XNYS for US equities, any other
of its exchange codes by name), or from an explicit list of session days (the simulated market,
whose calendar its source defines). Every question a live flow asks about the calendar goes
through a `SessionCalendar`, never a weekday rule.

`exchange-calendars` builds each calendar for a bounded range (by default 20 years back to one
year ahead; XSHG's holidays are decreed yearly, so its range ends at the last year published).
A date outside that range raises `CalendarEndedError` naming the range; nothing is
extrapolated. The sessions after the library's last year come from a user file
(`load_calendar_extra`, merged by `extend_calendar`): the exchange's published holidays of the
next year, and the day through which they hold.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from cnnlstm.core.errors import UserInputError

#: Market preset -> exchange code used when none is given.
MARKET_CALENDARS = {"cn": "XSHG", "us": "XNYS"}
#: The calendar the built-in simulated market trades on (its sessions come from its source).
SIM_CALENDAR = "SIM"
#: exchange-calendars builds this far back by default; we ask for more (the paper starts 2007).
_EARLIEST = "1995-01-02"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: Names of the A-share closures exchange-calendars lists only as dates (XSHG's are precomputed
#: without names): (first month-day, last month-day, name) of the window a closure falls in.
#: Lunar holidays move; the windows are wide enough for 2000-2030 and the name says "likely".
_CN_HOLIDAY_WINDOWS = (
    ((1, 1), (1, 3), "New Year's Day"),
    ((1, 19), (2, 22), "Spring Festival"),
    ((4, 2), (4, 7), "Qingming Festival"),
    ((4, 29), (5, 7), "Labour Day"),
    ((5, 28), (6, 25), "Dragon Boat Festival"),
    ((9, 7), (9, 30), "Mid-Autumn Festival"),
    ((10, 1), (10, 8), "National Day"),
)


class CalendarEndedError(UserInputError):
    """A day outside the calendar's known sessions (past its last year, or before its first)."""


@dataclass(frozen=True)
class SessionCalendar:
    """The sessions of one exchange and the questions the live flows ask of them.

    Attributes:
        name: Exchange code (`XSHG`, `XNYS`, `SIM`, ...).
        tz: The exchange's time zone.
        close: The session's closing time, local.
        first: First day the calendar knows about.
        last: Last day the calendar knows about.
    """

    name: str
    tz: str
    close: time
    first: date
    last: date
    _sessions: tuple[date, ...] = field(repr=False)
    _holiday_names: dict[date, str] = field(default_factory=dict, repr=False)

    def _check(self, day: date) -> None:
        if not self.first <= day <= self.last:
            raise CalendarEndedError(
                f"{day} is outside the {self.name} calendar ({self.first} .. {self.last}): no "
                "sessions are known there; add the exchange's published holidays with "
                "`calendar_extra: FILE` (see docs/DEPLOY.md) or update exchange-calendars"
            )

    def sessions_left(self, day: date) -> int:
        """The sessions from `day` through the calendar's last day (0 past its end)."""
        if day > self.last:
            return 0
        import bisect

        return len(self._sessions) - bisect.bisect_left(self._sessions, max(day, self.first))

    @property
    def _set(self) -> frozenset[date]:
        return _as_set(self._sessions)

    def is_session(self, day: date) -> bool:
        """Whether the exchange trades on `day`."""
        self._check(day)
        return day in self._set

    def sessions(self, start: date, end: date) -> list[date]:
        """The sessions from `start` to `end` inclusive."""
        self._check(start)
        self._check(end)
        return [d for d in self._sessions if start <= d <= end]

    def previous_session(self, day: date) -> date:
        """The last session strictly before `day`."""
        self._check(day)
        import bisect

        i = bisect.bisect_left(self._sessions, day)
        if i == 0:
            raise UserInputError(
                f"no {self.name} session before {day} (calendar starts {self.first})"
            )
        return self._sessions[i - 1]

    def next_session(self, day: date) -> date:
        """The first session strictly after `day`."""
        self._check(day)
        import bisect

        i = bisect.bisect_right(self._sessions, day)
        if i == len(self._sessions):
            raise CalendarEndedError(
                f"no {self.name} session after {day} (calendar ends {self.last}): add the "
                "exchange's published holidays with `calendar_extra: FILE` (docs/DEPLOY.md)"
            )
        return self._sessions[i]

    def month_last_session(self, day: date) -> date:
        """The last session of `day`'s month."""
        first = day.replace(day=1)
        end = date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)
        found = self.sessions(max(first, self.first), min(end, self.last))
        if not found:
            raise UserInputError(f"{self.name} has no session in {first:%Y-%m}")
        if end > self.last:
            raise CalendarEndedError(
                f"{first:%Y-%m} runs past the end of the {self.name} calendar ({self.last}): add "
                "the exchange's published holidays with `calendar_extra: FILE` (docs/DEPLOY.md)"
            )
        return found[-1]

    def is_month_last_session(self, day: date) -> bool:
        """Whether `day` is a session and no session of its month follows it."""
        return self.is_session(day) and self.month_last_session(day) == day

    def close_at(self, day: date) -> datetime:
        """When session `day` closes (an aware datetime)."""
        return datetime.combine(day, self.close, tzinfo=ZoneInfo(self.tz))

    def last_completed_session(
        self, now: datetime, delay: timedelta = timedelta(0), *, until: date | None = None
    ) -> date:
        """The latest session (at or before `until`) whose close plus `delay` is before `now`.

        `delay` is the time the data feed needs after the close to publish the session's bars.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        local = now.astimezone(ZoneInfo(self.tz)).date()
        if until is not None:
            local = min(local, until)
        candidate = local if self.is_session(local) else self.previous_session(local)
        while self.close_at(candidate) + delay > now:
            candidate = self.previous_session(candidate)
        return candidate

    def closed_reason(self, day: date) -> str:
        """Why `day` is not a session: the weekend day or the holiday's name."""
        self._check(day)
        if day in self._set:
            raise ValueError(f"{day} is a {self.name} session")
        if day.weekday() >= 5:
            return f"{_WEEKDAYS[day.weekday()]} (weekend)"
        name = self._holiday_names.get(day)
        if name:
            return f"{name} ({self.name} holiday)"
        return f"{self.name} holiday"

    def today(self, now: datetime | None = None) -> date:
        """The exchange's local date now."""
        now = now or datetime.now(UTC)
        return now.astimezone(ZoneInfo(self.tz)).date()


@lru_cache(maxsize=16)
def _as_set(sessions: tuple[date, ...]) -> frozenset[date]:
    return frozenset(sessions)


@lru_cache(maxsize=8)
def exchange_calendar(name: str) -> SessionCalendar:
    """The `exchange-calendars` calendar `name` (e.g. `XSHG`, `XNYS`) as a `SessionCalendar`.

    Raises:
        UserInputError: `name` is not an exchange-calendars code.
    """
    import exchange_calendars as xcals
    import pandas as pd

    with warnings.catch_warnings():  # pandas deprecations raised inside exchange-calendars
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return _build_exchange_calendar(name, xcals, pd)


def _build_exchange_calendar(name: str, xcals, pd) -> SessionCalendar:  # noqa: ANN001
    try:
        try:
            cal = xcals.get_calendar(name, start=_EARLIEST)
        except ValueError:  # a calendar whose data starts later than _EARLIEST
            cal = xcals.get_calendar(name)
    except xcals.errors.InvalidCalendarName:
        raise UserInputError(
            f"unknown exchange calendar {name!r}: use an exchange-calendars code such as XSHG "
            "(Shanghai) or XNYS (New York)"
        ) from None
    sessions = tuple(d.date() for d in cal.sessions)
    closes = cal.schedule["close"].dt.tz_convert(str(cal.tz))
    close = closes.iloc[-1].time()  # the regular close today (early closes are not modelled)
    names: dict[date, str] = {}
    if cal.regular_holidays is not None:
        found = cal.regular_holidays.holidays(
            start=cal.first_session, end=cal.last_session, return_name=True
        )
        names.update({pd.Timestamp(d).date(): str(n) for d, n in found.items()})
    first, last = cal.first_session.date(), cal.last_session.date()
    if name.upper() == "XSHG":
        names.update(_cn_holiday_names(sessions, first, last))
    return SessionCalendar(
        name=name.upper(),
        tz=str(cal.tz),
        close=close,
        first=first,
        last=last,
        _sessions=sessions,
        _holiday_names=names,
    )


def _cn_holiday_names(sessions: tuple[date, ...], first: date, last: date) -> dict[date, str]:
    """Name each weekday closure of XSHG by the holiday window it falls in ("likely" names)."""
    open_days = set(sessions)
    out: dict[date, str] = {}
    day = first
    while day <= last:
        if day.weekday() < 5 and day not in open_days:
            md = (day.month, day.day)
            for lo, hi, label in _CN_HOLIDAY_WINDOWS:
                if lo <= md <= hi:
                    out[day] = f"{label}, by its date"
                    break
        day += timedelta(days=1)
    return out


def calendar_from_sessions(
    name: str,
    sessions: Iterable[date],
    *,
    tz: str = "Asia/Shanghai",
    close: time = time(15, 0),
    holiday_names: dict[date, str] | None = None,
    first: date | None = None,
    last: date | None = None,
) -> SessionCalendar:
    """A calendar from an explicit list of session days (e.g. the simulated market's)."""
    days = tuple(sorted(set(sessions)))
    if not days:
        raise UserInputError(f"calendar {name!r} has no sessions")
    return SessionCalendar(
        name=name,
        tz=tz,
        close=close,
        first=first or days[0],
        last=last or days[-1],
        _sessions=days,
        _holiday_names=dict(holiday_names or {}),
    )


@dataclass(frozen=True)
class CalendarExtra:
    """A user's sessions past (or corrections within) a library calendar.

    Attributes:
        path: The file it was read from.
        through: The last day the file's holidays hold for.
        holidays: Weekday closures, with their names.
        sessions: Extra sessions (e.g. a weekend make-up session of an exchange that trades one).
    """

    path: str
    through: date
    holidays: dict[date, str]
    sessions: frozenset[date]


def load_calendar_extra(path: str | Path) -> CalendarExtra:
    """Read a calendar file of the sessions after (or corrections within) a library calendar.

    Lines: `through YYYY-MM-DD` (required: the last day the file covers), `YYYY-MM-DD name`
    (a holiday) or `session YYYY-MM-DD` (an extra session); `#` starts a comment.

    Raises:
        UserInputError: the file is missing, or a line (named by number) is not one of those.
    """
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"calendar_extra file {file} does not exist")
    through: date | None = None
    holidays: dict[date, str] = {}
    sessions: set[date] = set()
    for number, raw in enumerate(file.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        head, _, rest = line.partition(" ")
        try:
            if head.lower() in ("through", "through:"):
                through = date.fromisoformat(rest.strip())
            elif head.lower() in ("session", "session:"):
                sessions.add(date.fromisoformat(rest.strip()))
            else:
                holidays[date.fromisoformat(head)] = rest.strip() or "holiday"
        except ValueError:
            raise UserInputError(
                f"{file}:{number}: {raw.strip()!r} is not `through YYYY-MM-DD`, "
                "`YYYY-MM-DD holiday name` or `session YYYY-MM-DD`"
            ) from None
    if through is None:
        raise UserInputError(f"{file} has no `through YYYY-MM-DD` line (the last day it covers)")
    late = sorted(d for d in [*holidays, *sessions] if d > through)
    if late:
        raise UserInputError(f"{file}: {late[0]} comes after its `through {through}` line")
    return CalendarExtra(str(file), through, holidays, frozenset(sessions))


def extend_calendar(cal: SessionCalendar, extra: CalendarExtra) -> SessionCalendar:
    """`cal` merged with a user file (`load_calendar_extra`).

    After `cal`'s last day every weekday through `extra.through` is a session unless the file
    names it a holiday; the file's holidays and sessions also correct `cal`'s own days.
    """
    days = set(cal._sessions)
    day = cal.last + timedelta(days=1)
    while day <= extra.through:
        if day.weekday() < 5:
            days.add(day)
        day += timedelta(days=1)
    days = (days - set(extra.holidays)) | set(extra.sessions)
    names = {
        **cal._holiday_names,
        **{d: f"{n}, from {extra.path}" for d, n in extra.holidays.items()},
    }
    return SessionCalendar(
        name=cal.name,
        tz=cal.tz,
        close=cal.close,
        first=cal.first,
        last=max(cal.last, extra.through),
        _sessions=tuple(sorted(days)),
        _holiday_names=names,
    )


def calendar_name(market: str, override: str | None = None) -> str:
    """The exchange code for a market preset (`cn` -> XSHG, `us` -> XNYS) unless overridden.

    Raises:
        UserInputError: no override and a market without a default calendar.
    """
    if override:
        return override.upper()
    try:
        return MARKET_CALENDARS[market]
    except KeyError:
        raise UserInputError(
            f"market {market!r} has no default exchange calendar: set one explicitly "
            f"({', '.join(f'{k}: {v}' for k, v in MARKET_CALENDARS.items())})"
        ) from None
