"""Issue 9 in the data stages: benchmark coverage is checked before training, stores are named
from resolved paths, and an explicitly named store's restatements reach the cache key.

The benchmark case is the one measured: an index ending 2015-06-30 for a test to 2017-03 was
carried flat for 21 months (every excess return +0.067, the equal-weight baseline's sign
flipped), and gaps inside the period were forward-filled without a word.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from prefect.logging import disable_run_logger
from support import random_walk_bars

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.params import DataParams, Period, Protocol
from cnnlstm.flows.stages.data import Ingested, default_store, input_fingerprint, validate
from cnnlstm.infra.artifacts import write_json, write_table
from cnnlstm.tasks.data.ingest import benchmark_coverage, check_benchmark_coverage
from cnnlstm.tasks.data.store import write_bars

_ALL = pl.date_range(date(2012, 1, 2), date(2017, 3, 31), "1d", eager=True)
DAYS = _ALL.filter(_ALL.dt.weekday() <= 5)
PROTOCOL = Protocol(
    train=Period(start=date(2013, 4, 1), end=date(2014, 12, 31)),
    test=Period(start=date(2015, 1, 1), end=date(2017, 3, 31)),
)


def index_on(days: pl.Series) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": "IDX", "date": days, "close": [100.0 + i * 0.01 for i in range(days.len())]}
    )


@pytest.fixture()
def bars() -> pl.DataFrame:
    return random_walk_bars(3, DAYS.alias("date"))


def ingested(bars: pl.DataFrame, bench: pl.DataFrame) -> Ingested:
    return Ingested(
        bars=write_table(bars, "ingest"),
        benchmark=write_table(bench, "ingest"),
        report=write_json({}, "ingest"),
    )


def test_a_benchmark_that_ends_early_fails_before_training_with_the_dates(bars):
    short = index_on(DAYS.filter(DAYS.is_between(date(2012, 1, 2), date(2015, 6, 30))))
    with disable_run_logger(), pytest.raises(UserInputError) as err:
        validate.fn(ingested(bars, short), PROTOCOL, DataParams())
    message = str(err.value)
    assert "2015-06-30" in message and "2015-07-01 .. 2017-03-31" in message
    assert "benchmark_coverage=accept" in message


def test_accepting_a_short_benchmark_records_its_coverage(bars):
    short = index_on(DAYS.filter(DAYS.is_between(date(2012, 1, 2), date(2015, 6, 30))))
    with disable_run_logger():
        dataset = validate.fn(
            ingested(bars, short), PROTOCOL, DataParams(benchmark_coverage="accept")
        )
    coverage = dataset.benchmark_coverage
    assert coverage is not None and coverage.accepted and not coverage.covers
    test_days = DAYS.filter(DAYS.is_between(date(2015, 1, 1), date(2017, 3, 31)))
    assert coverage.sessions == test_days.len()
    assert (
        coverage.missing_sessions
        == test_days.filter(test_days.is_between(date(2015, 7, 1), date(2017, 3, 31))).len()
    )
    assert coverage.last == date(2015, 6, 30)


def test_a_gap_inside_the_test_longer_than_allowed_fails(bars):
    gap = DAYS.is_between(date(2016, 2, 1), date(2016, 2, 10))  # 8 sessions
    with (
        disable_run_logger(),
        pytest.raises(UserInputError, match=r"2016-02-01 .. 2016-02-10 \(8\)"),
    ):
        validate.fn(ingested(bars, index_on(DAYS.filter(~gap))), PROTOCOL, DataParams())
    with disable_run_logger():  # allowed when the limit is raised
        dataset = validate.fn(
            ingested(bars, index_on(DAYS.filter(~gap))),
            PROTOCOL,
            DataParams(max_benchmark_gap_sessions=8),
        )
    assert dataset.benchmark_coverage.covers and dataset.benchmark_coverage.longest_gap == 8


def test_coverage_of_a_full_benchmark_and_short_gaps(bars):
    small_gap = DAYS.is_between(date(2016, 2, 1), date(2016, 2, 3))
    cov = benchmark_coverage(
        bars,
        index_on(DAYS.filter(~small_gap)),
        PROTOCOL.test.start,
        PROTOCOL.test.end,
        name="IDX",
        max_gap_sessions=5,
    )
    assert cov.covers and cov.missing_sessions == 3 and cov.gaps == ()
    assert check_benchmark_coverage(cov, "fail") is cov
    late = index_on(
        DAYS.filter(DAYS.is_between(date(2015, 1, 7), date(2017, 3, 31)))
    )  # starts 3 sessions into the test
    cov = benchmark_coverage(
        bars, late, PROTOCOL.test.start, PROTOCOL.test.end, name="IDX", max_gap_sessions=5
    )
    assert not cov.covers and cov.gaps == ((date(2015, 1, 1), date(2015, 1, 6), 4),)


def test_the_same_relative_spec_in_two_projects_maps_to_two_stores(tmp_path, monkeypatch):
    """Before: `csv:stocks` hashed as text named one store for both projects."""
    for project in ("one", "two"):
        (tmp_path / project / "stocks").mkdir(parents=True)
    data = DataParams(source="csv:stocks", benchmark="csv:stocks/index.csv")
    monkeypatch.chdir(tmp_path / "one")
    first = default_store(data)
    assert (
        default_store(
            DataParams(
                source=f"csv:{tmp_path / 'one' / 'stocks'}",
                benchmark=f"csv:{tmp_path / 'one' / 'stocks' / 'index.csv'}",
            )
        )
        == first
    )
    monkeypatch.chdir(tmp_path / "two")
    assert default_store(data) != first
    assert default_store(DataParams(source="yfinance:AAPL")) == default_store(
        DataParams(source="yfinance:AAPL")
    )


def test_two_simulated_markets_map_to_two_stores():
    """Before: every `sim` config shared one store (its options live in `data.sim`)."""
    planted, null = DataParams(), DataParams(sim={"effects": "none"})
    assert default_store(planted) != default_store(null)
    assert default_store(DataParams(sim={"effects": "none"})) == default_store(null)


def test_an_explicit_store_written_since_the_last_run_changes_the_ingest_key(tmp_path, bars):
    data = DataParams(source="sim", store=str(tmp_path / "shared"))
    before = input_fingerprint(data)
    write_bars(tmp_path / "shared", bars.head(10))
    assert input_fingerprint(data) != before
