"""Point-in-time universes: membership files read, members on a date, members without data."""

from datetime import date

import polars as pl
import pytest
from support import random_walk_bars

from cnnlstm.core.errors import DataValidationError, UserInputError
from cnnlstm.tasks.data.universe import (
    check_members_with_data,
    is_member,
    read_membership,
    universe_coverage,
)


def test_reads_qlib_layout_with_several_periods_per_symbol(tmp_path):
    path = tmp_path / "csi300.txt"
    path.write_text(
        "sh600000\t2010-01-04\t2011-06-30\nSH600000\t2013-01-04\t2020-12-31\n"
        "SZ000001 2010-01-04 2020-12-31\n"
    )
    table = read_membership(path)
    assert table.rows() == [
        ("SH600000", date(2010, 1, 4), date(2011, 6, 30)),
        ("SH600000", date(2013, 1, 4), date(2020, 12, 31)),
        ("SZ000001", date(2010, 1, 4), date(2020, 12, 31)),
    ]
    keys = pl.DataFrame(
        {
            "symbol": ["SH600000", "SH600000", "SH600000", "SZ000001", "SZ000002"],
            "day": [date(2011, 6, 30), date(2012, 1, 31), date(2013, 1, 4)]
            + [date(2012, 1, 31)] * 2,
        }
    )
    assert is_member(table, keys, on="day").to_list() == [True, False, True, True, False]


def test_reads_a_csv_with_a_header(tmp_path):
    path = tmp_path / "universe.csv"
    path.write_text("symbol,start,end\nAAPL,2015-01-02,2016-12-30\n")
    assert read_membership(path).rows() == [("AAPL", date(2015, 1, 2), date(2016, 12, 30))]


def test_bad_files_name_the_line_or_the_rows(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("SH600000\t2010-01-04\t2011-06-30\nSH600001\t2010-13-01\t2011-01-01\n")
    with pytest.raises(UserInputError, match=r"m.txt, line 2: 'SH600001"):
        read_membership(path)
    path.write_text("SH600000\t2010-01-04\t2011-06-30\nSH600000\t2011-01-04\t2012-01-01\n")
    with pytest.raises(DataValidationError, match="do not overlap"):
        read_membership(path)
    path.write_text("SH600000\t2012-01-04\t2011-06-30\n")
    with pytest.raises(DataValidationError, match="end >= start"):
        read_membership(path)
    with pytest.raises(UserInputError, match="no such membership file"):
        read_membership(tmp_path / "absent.txt")


def test_coverage_counts_members_per_month_and_names_members_without_data(tmp_path):
    days = pl.date_range(date(2020, 1, 1), date(2020, 6, 30), eager=True)
    bars = random_walk_bars(4, days.filter(days.dt.weekday() <= 5))
    have = sorted(bars["symbol"].unique().to_list())
    rows = [(s, date(2019, 1, 1), date(2030, 1, 1)) for s in have[:3]]
    rows += [
        ("GONE1", date(2019, 1, 1), date(2030, 1, 1)),
        (have[3], date(2020, 3, 1), date(2030, 1, 1)),
    ]
    table = pl.DataFrame(rows, schema=["symbol", "start", "end"], orient="row")
    days = bars["date"].unique().sort()
    cov = universe_coverage(table, bars, start=days[0], end=days[-1], name="TEST")
    assert (cov.min_members, cov.max_members) == (3, 4)
    assert cov.without_data == ["GONE1"]
    # GONE1 is a member on every trading day of the span: its member-days over all member-days
    assert cov.missing_member_days == days.len()
    assert 0 < cov.missing_share < 0.25
    assert (
        "1 member(s) without data" in cov.rule()
        and "3 to 4 a month (2020-02..2020-06)" in cov.rule()
    )
    check_members_with_data(cov, "caveat")  # stated, not refused
    with pytest.raises(UserInputError, match="GONE1"):
        check_members_with_data(cov, "fail")
