from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.sessions import calendar_from_sessions, calendar_name, exchange_calendar


def test_xshg_holidays_are_not_sessions_and_are_named():
    cal = exchange_calendar("XSHG")
    assert not cal.is_session(date(2016, 10, 3))  # a Monday in the National Day week
    assert "National Day" in cal.closed_reason(date(2016, 10, 3))
    assert "Spring Festival" in cal.closed_reason(date(2016, 2, 8))
    assert cal.closed_reason(date(2016, 2, 6)) == "Saturday (weekend)"
    assert cal.is_session(date(2016, 10, 10))
    with pytest.raises(ValueError, match="is a XSHG session"):
        cal.closed_reason(date(2016, 10, 10))


def test_month_last_session_is_the_calendars_not_the_last_weekday():
    cal = exchange_calendar("XSHG")
    # 2016-09-30 (Fri) is the last weekday and the last session of September
    assert cal.month_last_session(date(2016, 9, 5)) == date(2016, 9, 30)
    # 2017-09-29: the last session of September 2017 is Friday the 29th (30th is a Saturday);
    # January 2017's last weekday, the 31st, is in the Spring Festival closure
    assert cal.month_last_session(date(2017, 1, 3)) == date(2017, 1, 26)
    assert cal.is_month_last_session(date(2017, 1, 26))
    us = exchange_calendar("XNYS")
    assert us.closed_reason(date(2016, 7, 4)) == "July 4th (XNYS holiday)"
    assert us.month_last_session(date(2016, 3, 1)) == date(2016, 3, 31)
    assert us.month_last_session(date(2018, 3, 1)) == date(2018, 3, 29)  # Good Friday the 30th


def test_last_completed_session_waits_for_the_close_plus_the_delay():
    cal = exchange_calendar("XSHG")  # closes 15:00 Asia/Shanghai = 07:00 UTC
    delay = timedelta(hours=1)
    assert cal.last_completed_session(datetime(2016, 10, 10, 8, 0, tzinfo=UTC), delay) == date(
        2016, 10, 10
    )
    # before 16:00 Shanghai on the 10th, the last complete session is before the holiday
    assert cal.last_completed_session(datetime(2016, 10, 10, 7, 30, tzinfo=UTC), delay) == date(
        2016, 9, 30
    )


def test_dates_outside_the_calendar_fail_clearly():
    cal = exchange_calendar("XSHG")
    with pytest.raises(UserInputError, match="outside the XSHG calendar"):
        cal.is_session(date(cal.last.year + 3, 1, 4))
    with pytest.raises(UserInputError, match="unknown exchange calendar"):
        exchange_calendar("NOPE")


def test_calendar_by_market_preset_and_override():
    assert calendar_name("cn") == "XSHG" and calendar_name("us") == "XNYS"
    assert calendar_name("cn", "xhkg") == "XHKG"
    with pytest.raises(UserInputError, match="no default exchange calendar"):
        calendar_name("custom")


def test_explicit_sessions_calendar():
    days = [date(2020, 1, 2), date(2020, 1, 3), date(2020, 1, 6)]
    cal = calendar_from_sessions("T", days, holiday_names={date(2020, 1, 1): "New Year"})
    assert cal.next_session(date(2020, 1, 3)) == date(2020, 1, 6)
    assert cal.previous_session(date(2020, 1, 6)) == date(2020, 1, 3)
    assert cal.closed_reason(date(2020, 1, 4)) == "Saturday (weekend)"


SSE_2027 = """# SSE holidays 2027 (as the exchange publishes them in December)
through 2027-12-31
2027-01-01 New Year's Day
2027-02-08 Spring Festival  # part of the week
2027-02-09 Spring Festival
"""


def test_a_user_holiday_file_extends_the_calendar_past_the_librarys_end(tmp_path):
    from cnnlstm.core.sessions import extend_calendar, load_calendar_extra

    lib = exchange_calendar("XSHG")
    assert lib.last == date(2026, 12, 31)  # measured: exchange-calendars 4.13 ends here
    with pytest.raises(UserInputError, match="calendar_extra"):
        lib.next_session(lib.last)
    path = tmp_path / "xshg-2027.txt"
    path.write_text(SSE_2027)
    cal = extend_calendar(lib, load_calendar_extra(path))
    assert cal.last == date(2027, 12, 31)
    assert cal.next_session(date(2026, 12, 31)) == date(2027, 1, 4)
    assert cal.month_last_session(date(2026, 12, 1)) == date(2026, 12, 31)
    assert not cal.is_session(date(2027, 2, 8)) and cal.is_session(date(2027, 2, 10))
    assert "Spring Festival" in cal.closed_reason(date(2027, 2, 9))
    assert cal.sessions(date(2026, 12, 1), date(2026, 12, 31)) == lib.sessions(
        date(2026, 12, 1), date(2026, 12, 31)
    )
    assert cal.sessions_left(date(2027, 12, 27)) == 5


def test_a_calendar_file_with_a_bad_line_names_it(tmp_path):
    from cnnlstm.core.sessions import load_calendar_extra

    bad = tmp_path / "bad.txt"
    bad.write_text("through 2027-12-31\n2027-13-01 nonsense\n")
    with pytest.raises(UserInputError, match=r"bad.txt:2: '2027-13-01 nonsense'"):
        load_calendar_extra(bad)
    bad.write_text("2027-01-01 New Year's Day\n")
    with pytest.raises(UserInputError, match="no `through"):
        load_calendar_extra(bad)


def test_today_past_the_calendars_end_is_an_error_not_its_last_session():
    """Measured before: a clock past the end answered the calendar's last session (fresh)."""
    cal = exchange_calendar("XSHG")
    with pytest.raises(UserInputError, match="outside the XSHG calendar"):
        cal.last_completed_session(datetime(2027, 1, 5, 12, 0, tzinfo=UTC))
