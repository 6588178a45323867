"""update_store: what one update changed in a store, and whether it reached the session."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from support import random_walk_bars

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.sessions import exchange_calendar
from cnnlstm.tasks.data.update import update_store

CAL = exchange_calendar("XSHG")
DAYS = pl.Series(CAL.sessions(date(2026, 5, 6), date(2026, 6, 5)))
LAST, BEFORE_LAST = DAYS[-1], DAYS[-2]


def _feed(tmp_path):
    bars = random_walk_bars(5, DAYS, seed=3)
    feed = tmp_path / "feed"
    feed.mkdir()
    bars.filter(pl.col("date") < LAST).write_parquet(feed / "history.parquet")
    return feed, bars


def test_a_source_that_did_not_advance_is_reported_as_such(tmp_path):
    feed, _ = _feed(tmp_path)
    report = update_store(f"parquet:{feed}", tmp_path / "store", LAST)
    assert report.last_before is None and report.last_after == BEFORE_LAST
    assert not report.advanced and report.rows_added == 5 * (len(DAYS) - 1)
    assert "did NOT reach the expected 2026-06-05" in "\n".join(report.lines())
    again = update_store(f"parquet:{feed}", tmp_path / "store", LAST)
    assert again.rows_added == 0 and not again.advanced and again.symbols_gone == []


def test_a_dropped_file_advances_the_store_and_names_new_and_gone_symbols(tmp_path):
    feed, bars = _feed(tmp_path)
    update_store(f"parquet:{feed}", tmp_path / "store", LAST)
    day = bars.filter((pl.col("date") == LAST) & (pl.col("symbol") != "S03"))
    newcomer = day.head(1).with_columns(symbol=pl.lit("S99"))
    pl.concat([day, newcomer]).write_parquet(feed / f"{LAST}.parquet")
    report = update_store(f"parquet:{feed}", tmp_path / "store", LAST)
    assert report.advanced and report.last_before == BEFORE_LAST and report.last_after == LAST
    assert report.rows_added == 5 and report.rows_replaced == 0
    assert report.symbols_new == ["S99"] and report.symbols_gone == ["S03"]


def test_restated_rows_follow_the_store_policy(tmp_path):
    feed, bars = _feed(tmp_path)
    update_store(f"parquet:{feed}", tmp_path / "store", LAST)
    history = bars.filter(pl.col("date") < LAST)
    split = pl.col("symbol") == "S01"
    prices = ("open", "high", "low", "close")
    adjusted = history.with_columns(
        [pl.when(split).then(pl.col(c) / 2).otherwise(pl.col(c)).alias(c) for c in prices]
    )
    adjusted.write_parquet(feed / "history.parquet")
    bars.filter(pl.col("date") == LAST).write_parquet(feed / f"{LAST}.parquet")
    with pytest.raises(UserInputError, match="S01"):
        update_store(f"parquet:{feed}", tmp_path / "store", LAST)
    report = update_store(f"parquet:{feed}", tmp_path / "store", LAST, on_restated="replace")
    assert report.advanced and len(report.restated) == 1 and "S01" in report.restated[0]
    assert report.rows_replaced == len(DAYS) - 1
