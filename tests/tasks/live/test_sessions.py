"""Which sessions and months a live run acts for, and its guards (pure, on the sim calendar)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cnnlstm.tasks.live.sessions import (
    MissedSessionsError,
    StaleDataError,
    TooEarlyError,
    months_to_publish,
    no_session,
    refuse_retrain_with_missed,
    require_closed,
    require_fresh,
    sessions_to_process,
    sim_session_calendar,
)

CAL = sim_session_calendar(date(2013, 1, 1), date(2013, 12, 31))


def test_a_closed_day_names_why_and_a_session_is_none():
    assert "National Day" in no_session(CAL, date(2013, 10, 1)).message
    assert no_session(CAL, date(2013, 7, 2)) is None


def test_missed_sessions_are_made_up_in_order_or_refused_by_name():
    assert sessions_to_process(CAL, date(2013, 7, 2), date(2013, 7, 5), catch_up=True) == [
        date(2013, 7, 3), date(2013, 7, 4), date(2013, 7, 5),
    ]  # fmt: skip
    assert sessions_to_process(CAL, None, date(2013, 7, 5), catch_up=False) == [date(2013, 7, 5)]
    with pytest.raises(MissedSessionsError, match="2013-07-03, 2013-07-04 were never processed"):
        sessions_to_process(CAL, date(2013, 7, 2), date(2013, 7, 5), catch_up=False)


def test_missed_months_are_published_in_order_and_never_with_a_retrained_model():
    months = months_to_publish([date(2013, 4, 1)], date(2013, 7, 1), replace=False)
    assert months == [date(2013, 5, 1), date(2013, 6, 1), date(2013, 7, 1)]
    assert months_to_publish([date(2013, 4, 1)], date(2013, 7, 1), replace=True) == [
        date(2013, 7, 1)
    ]
    with pytest.raises(ValueError, match="2013-05, 2013-06 were never published"):
        refuse_retrain_with_missed(months, retrain=True)
    refuse_retrain_with_missed(months[-1:], retrain=True)


def test_a_session_is_complete_after_its_close_plus_the_delay():
    day, delay = date(2013, 6, 28), timedelta(minutes=60)
    with pytest.raises(TooEarlyError, match=r"not complete.*\(60 min\)"):
        require_closed(CAL, day, datetime(2013, 6, 28, 7, 30, tzinfo=UTC), delay)
    require_closed(CAL, day, datetime(2013, 6, 28, 8, 0, tzinfo=UTC), delay)  # 16:00 Shanghai


def test_stale_data_names_both_dates_and_the_source():
    with pytest.raises(StaleDataError, match=r"through 2013-07-02, but feed ends 2013-06-28"):
        require_fresh(date(2013, 6, 28), date(2013, 7, 2), what="x", source="feed")
    with pytest.raises(StaleDataError, match="with no bars"):
        require_fresh(None, date(2013, 7, 2), what="x", source="feed")
    require_fresh(date(2013, 7, 2), date(2013, 7, 2), what="x", source="feed")
