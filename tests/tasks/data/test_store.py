"""The Parquet store: year partitions, incremental idempotent writes, filtered reads."""

from datetime import date, timedelta

import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.bars import BAR_COLUMNS
from cnnlstm.tasks.data.store import (
    RestatementError,
    read_bars,
    read_benchmark,
    stored_symbols,
    write_bars,
    write_benchmark,
)


def make_bars(symbols=("A", "B"), start=date(2019, 12, 30), days=6) -> pl.DataFrame:
    rows = []
    for k, s in enumerate(symbols):
        for i in range(days):
            px = 10.0 + k + i
            d = start + timedelta(days=i)
            rows.append((s, d, px, px + 1, px - 1, px + 0.5, 100.0 * i, 100.0 * i * px))
    return pl.DataFrame(rows, schema=list(BAR_COLUMNS), orient="row")


def test_write_partitions_by_year_and_reads_back(tmp_path):
    bars = make_bars()
    result = write_bars(tmp_path, bars)
    assert result.added == bars.height
    assert sorted(p.name for p in (tmp_path / "bars").iterdir()) == [
        "year=2019.parquet",
        "year=2020.parquet",
    ]
    back = read_bars(tmp_path)
    assert back.equals(bars.sort("symbol", "date"))
    assert stored_symbols(tmp_path) == ["A", "B"]


def test_writing_twice_changes_nothing(tmp_path):
    bars = make_bars()
    write_bars(tmp_path, bars)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "bars").iterdir()}
    again = write_bars(tmp_path, bars)
    assert (again.added, again.already_stored, again.conflicting) == (0, bars.height, 0)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "bars").iterdir()}
    assert before == after


def test_incremental_adds_only_new_rows_and_refuses_changed_stored_values(tmp_path):
    write_bars(tmp_path, make_bars(days=4))
    result = write_bars(tmp_path, make_bars(days=6))
    assert result.added == 4  # 2 new days x 2 symbols
    assert result.already_stored == 8
    changed = make_bars(days=6).with_columns(
        close=pl.when(pl.col("date") == date(2019, 12, 30))
        .then(pl.col("close") * 1.01)
        .otherwise(pl.col("close"))
    )
    # a changed stored row is a restatement: refused by default (tests/tasks/test_store_integrity)
    with pytest.raises(RestatementError, match="2019-12-30 close 10.5 -> 10.605"):
        write_bars(tmp_path, changed)
    stored = read_bars(tmp_path)
    assert stored.height == 12
    assert stored.filter(pl.col("date") == date(2019, 12, 30))["close"].to_list() == [10.5, 11.5]


def test_read_filters_dates_and_symbols(tmp_path):
    write_bars(tmp_path, make_bars(symbols=("A", "B", "C")))
    got = read_bars(tmp_path, start=date(2020, 1, 1), end=date(2020, 1, 2), symbols=["B"])
    assert got["date"].to_list() == [date(2020, 1, 1), date(2020, 1, 2)]
    assert got["symbol"].unique().to_list() == ["B"]
    assert read_bars(tmp_path, start=date(2030, 1, 1)).height == 0


def test_empty_store_is_a_clear_error(tmp_path):
    with pytest.raises(UserInputError, match="holds no bars"):
        read_bars(tmp_path)
    assert read_benchmark(tmp_path) is None


def test_benchmark_merge_and_one_index_per_store(tmp_path):
    bench = pl.DataFrame(
        {"symbol": ["IDX"] * 3, "date": [date(2020, 1, d) for d in (2, 3, 6)], "close": [1.0, 2, 3]}
    )
    assert write_benchmark(tmp_path, bench.head(2)).added == 2
    assert write_benchmark(tmp_path, bench).added == 1
    assert read_benchmark(tmp_path)["close"].to_list() == [1.0, 2.0, 3.0]
    with pytest.raises(UserInputError, match="holds benchmark IDX"):
        write_benchmark(tmp_path, bench.with_columns(symbol=pl.lit("OTHER")))
