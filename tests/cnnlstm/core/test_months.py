import calendar
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cnnlstm.core import months

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))


@given(days, st.integers(-400, 400))
def test_add_months_counts_calendar_months(day, n):
    shifted = months.add_months(day, n)
    assert shifted.day == 1
    assert (shifted.year - day.year) * 12 + shifted.month - day.month == n


@given(days)
def test_month_end_is_the_last_calendar_day(day):
    end = months.month_end(day)
    assert end.day == calendar.monthrange(day.year, day.month)[1]
    assert (end + timedelta(days=1)).day == 1 and end.month == day.month


def test_month_numbers_and_spans():
    assert months.month_number(date(1970, 1, 31)) == 1970 * 12
    assert months.month_start(1970 * 12 + 13) == date(1971, 2, 1)
    assert months.months_spanned(date(2016, 11, 30), date(2017, 2, 1)) == 4
    assert months.month_starts(date(2016, 11, 2), date(2017, 2, 1)) == [
        date(2016, 12, 1),
        date(2017, 1, 1),
        date(2017, 2, 1),
    ]
    assert months.month_starts(date(2016, 11, 1), date(2016, 11, 30)) == [date(2016, 11, 1)]
