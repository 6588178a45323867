"""Ingestion: validation of every bad row kind, quarantine, benchmark overlap, incrementality."""

from datetime import date

import polars as pl
import pytest

from cnnlstm.core.errors import DataValidationError, UserInputError
from cnnlstm.schemas.bars import BAR_COLUMNS
from cnnlstm.tasks.data.ingest import ingest, ingest_data
from cnnlstm.tasks.data.sources.base import SourceData, summarize
from cnnlstm.tasks.data.store import read_bars, read_benchmark

HEADER = "date,open,high,low,close,volume,Name\n"
GOOD = [
    "2020-01-02,10.0,10.5,9.8,10.2,1000,XYZ",
    "2020-01-03,10.2,10.9,10.1,10.8,2000,XYZ",
    "2020-01-06,10.8,11.0,10.5,10.6,0,XYZ",
]


def folder(tmp_path, lines, name="XYZ_data.csv"):
    d = tmp_path / "src"
    d.mkdir(exist_ok=True)
    (d / name).write_text(HEADER + "\n".join(lines) + "\n")
    return d


def with_row(i, row):
    lines = list(GOOD)
    lines[i] = row
    return lines


@pytest.mark.parametrize(
    ("lines", "check"),
    [
        (GOOD + [GOOD[2]], r"duplicate \(symbol, date\): 2 row\(s\)"),
        (with_row(1, "2020-01-03,-1.0,10.9,-2,10.8,2000,XYZ"), "open: must be > 0: 1 row"),
        (with_row(1, "2020-01-03,0,10.9,0,0,2000,XYZ"), "close: must be > 0: 1 row"),
        (with_row(1, "2020-01-03,10.2,9.0,10.1,10.8,2000,XYZ"), "low <= open, close <= high"),
        (with_row(1, "2020-01-03,10.2,10.9,10.1,NaN,2000,XYZ"), "close: missing"),
        (with_row(1, "2020-01-03,10.2,10.9,10.1,,2000,XYZ"), "close: missing"),
        (with_row(1, "2020-01-03,10.2,10.9,10.1,10.8,-5,XYZ"), "volume: must be >= 0: 1 row"),
    ],
    ids=["duplicate", "negative-price", "zero-price", "high-below-low", "nan", "empty", "neg-vol"],
)
def test_each_bad_row_fails_with_a_named_check(tmp_path, lines, check):
    src = folder(tmp_path, lines)
    with pytest.raises(DataValidationError, match=check) as err:
        ingest(f"csv:{src}", tmp_path / "store")
    assert "XYZ" in str(err.value)  # example rows name the symbol
    assert not (tmp_path / "store" / "bars").exists()  # nothing written on failure


def test_quarantine_sets_rows_aside_and_writes_the_rest(tmp_path):
    src = folder(tmp_path, with_row(1, "2020-01-03,10.2,9.0,10.1,10.8,-5,XYZ"))
    report = ingest(f"csv:{src}", tmp_path / "store", on_invalid="quarantine")
    assert report.rows_rejected == 1
    assert report.rejected == {
        "volume: must be >= 0": 1,
        "amount: must be >= 0": 1,  # derived from the negative volume
        "low <= open, close <= high": 1,
    }
    assert report.rows == report.rows_added == 2
    quarantined = pl.read_parquet(report.quarantine_files[0])
    assert quarantined["date"].to_list() == [date(2020, 1, 3)]
    assert "volume: must be >= 0" in quarantined["reasons"][0]
    assert read_bars(tmp_path / "store").height == 2
    assert any("rows rejected: 1" in line for line in report.lines())


def test_running_twice_changes_nothing_and_new_dates_are_added(tmp_path):
    src = folder(tmp_path, GOOD[:2])
    first = ingest(f"csv:{src}", tmp_path / "store")
    second = ingest(f"csv:{src}", tmp_path / "store")
    assert (first.rows_added, second.rows_added, second.rows_already_stored) == (2, 0, 2)
    src = folder(tmp_path, GOOD)
    third = ingest(f"csv:{src}", tmp_path / "store")
    assert third.rows_added == 1
    assert read_bars(tmp_path / "store").height == 3


def test_benchmark_without_common_dates_is_refused(tmp_path):
    src = folder(tmp_path, GOOD)
    idx = tmp_path / "idx.csv"
    idx.write_text("date,close\n2019-01-02,100\n2019-01-03,101\n")
    with pytest.raises(UserInputError, match="no common dates"):
        ingest(f"csv:{src}", tmp_path / "store", benchmark=f"csv:{idx}")


def test_benchmark_partial_overlap_is_noted_and_stored(tmp_path):
    src = folder(tmp_path, GOOD)
    idx = tmp_path / "idx.csv"
    idx.write_text("date,close\n2020-01-02,100\n2020-01-03,101\n")
    report = ingest(f"csv:{src}", tmp_path / "store", benchmark=f"csv:{idx}#IDX")
    assert report.benchmark_rows_added == 2
    assert any("no close on 1 of the stocks' 3 dates" in n for n in report.notes)
    assert read_benchmark(tmp_path / "store")["symbol"].unique().to_list() == ["IDX"]


def test_suspect_rows_fail_or_are_quarantined(tmp_path):
    bars = pl.DataFrame(
        [("A", date(2020, 1, d), 1.0, 1.0, 1.0, 1.0, 1.0, 1.0) for d in (2, 3, 6)],
        schema=list(BAR_COLUMNS),
        orient="row",
    )
    suspect = pl.DataFrame(
        {"symbol": ["A"], "date": [date(2020, 1, 2)], "reason": ["distorted stretch"]}
    )
    data = SourceData(bars, None, summarize(bars, "test"), suspect=suspect)
    with pytest.raises(UserInputError, match=r"distorted stretch: 1 row\(s\), e.g. A 2020-01-02"):
        ingest_data(data, tmp_path / "s1")
    report = ingest_data(data, tmp_path / "s2", on_invalid="quarantine")
    assert report.rows_rejected == 1 and report.rejected == {"distorted stretch": 1}
    assert read_bars(tmp_path / "s2")["date"].min() == date(2020, 1, 3)
    assert pl.read_parquet(report.quarantine_files[0]).height == 1


def test_qlib_sample_with_index_benchmark(shared_data, tmp_path):
    root = shared_data / "cn-qlib-csi300-sample"
    report = ingest(
        f"qlib:{root}",
        tmp_path / "store",
        benchmark=f"qlib:{root}#sh000300",
        source_options={"symbols": ["SH600010", "SH600038"]},
    )
    assert report.stocks == 2 and report.rows_rejected == 0
    assert report.first_date == date(2010, 1, 4) and report.last_date == date(2026, 5, 8)
    assert report.benchmark_rows_added == 3966
    assert read_benchmark(tmp_path / "store")["symbol"][0] == "SH000300"


@pytest.mark.slow
def test_full_shared_sets_account_for_every_raw_row(shared_data, tmp_path):
    us = shared_data / "us-sp500-2013-2018"
    report = ingest(
        f"csv:{us / 'stocks'}",
        tmp_path / "us",
        benchmark=f"csv:{us / 'index_gspc.csv'}#SPX",
        on_invalid="quarantine",
    )
    raw_rows = sum(len(f.read_text().splitlines()) - 1 for f in (us / "stocks").glob("*.csv"))
    assert report.stocks == 505 and report.rows + report.rows_rejected == raw_rows == 619040
    assert (report.first_date, report.last_date) == (date(2013, 2, 8), date(2018, 2, 7))
    qlib = shared_data / "cn-qlib-csi300-sample"
    report = ingest(f"qlib:{qlib}", tmp_path / "cn", benchmark=f"qlib:{qlib}#SH000300")
    assert report.stocks == 120 and report.rows == 409221 and report.rows_rejected == 0


def test_bars_on_a_non_session_fail_or_are_quarantined_with_counts(tmp_path):
    from cnnlstm.core.sessions import exchange_calendar

    days = [date(2020, 1, 3), date(2020, 1, 4), date(2020, 1, 6), date(2020, 10, 1)]
    bars = pl.DataFrame(
        [("A", d, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0) for d in days],
        schema=list(BAR_COLUMNS),
        orient="row",
    )  # 2020-01-04 a Saturday, 2020-10-01 National Day
    data = SourceData(bars, None, summarize(bars, "test"))
    xshg = exchange_calendar("XSHG")
    with pytest.raises(UserInputError, match=r"not a XSHG session \(Saturday\): 1 row\(s\), e.g. "
                       r"A 2020-01-04"):  # fmt: skip
        ingest_data(data, tmp_path / "s1", sessions=xshg)
    report = ingest_data(data, tmp_path / "s2", on_invalid="quarantine", sessions=xshg)
    assert report.rejected == {"not a XSHG session (Saturday)": 1,
                               "not a XSHG session (Thursday)": 1}  # fmt: skip
    assert read_bars(tmp_path / "s2")["date"].to_list() == [date(2020, 1, 3), date(2020, 1, 6)]
    assert ingest_data(data, tmp_path / "s3").rows_rejected == 0  # no calendar: not checked


def test_days_beyond_the_calendars_end_are_not_checkable_and_counted(tmp_path):
    from cnnlstm.core.sessions import exchange_calendar

    xshg = exchange_calendar("XSHG")
    after = [date.fromordinal(xshg.last.toordinal() + k) for k in (1, 2, 3)]
    bars = pl.DataFrame(
        [("A", d, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0) for d in after],
        schema=list(BAR_COLUMNS),
        orient="row",
    )
    report = ingest_data(SourceData(bars, None, summarize(bars, "t")), tmp_path, sessions=xshg)
    assert report.rows_rejected == 0
    assert any("3 row(s) dated outside the XSHG calendar" in n for n in report.notes)
