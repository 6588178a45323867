"""CSV and Parquet read by date window: the window's rows as a whole read gives them, no others."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.data.sources.spec import WINDOWED_KINDS
from cnnlstm.tasks.data.sources.tabular import read_bars_file
from cnnlstm.tasks.data.sources.window import DateWindow

START, END = date(2012, 3, 1), date(2012, 8, 31)


def _bars(n_stocks: int = 4, days: int = 900, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    dates = [date(2011, 1, 3) + timedelta(days=i) for i in range(days)]
    dates = [d for d in dates if d.weekday() < 5]
    frames = []
    for s in range(n_stocks):
        close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, len(dates))))
        frames.append(
            pl.DataFrame(
                {
                    "symbol": f"S{s}",
                    "date": dates,
                    "open": close * 0.99,
                    "high": close * 1.01,
                    "low": close * 0.98,
                    "close": close,
                    "volume": rng.uniform(1e5, 1e6, len(dates)).round(),
                    "amount": close * 1e6,
                }
            )
        )
    return pl.concat(frames)


def _in_window(bars: pl.DataFrame) -> pl.DataFrame:
    return bars.filter(pl.col("date").is_between(START, END))


def _same(windowed, whole) -> None:
    assert windowed.bars.height > 0
    assert windowed.bars.equals(_in_window(whole.bars))
    note = "read only the rows dated 2012-03-01 .. 2012-08-31"
    assert any(note in n for n in windowed.report.notes)


def test_csv_and_parquet_are_windowed_kinds():
    assert {"csv", "parquet", "qlib"} <= WINDOWED_KINDS


def test_csv_folder_window_is_the_whole_read_cut_to_it(tmp_path):
    bars = _bars()
    for (symbol,), rows in bars.group_by("symbol"):
        rows.drop("symbol").with_columns(pl.col("date").dt.strftime("%Y/%m/%d")).write_csv(
            tmp_path / f"{symbol}.csv"
        )
    whole = load_source(f"csv:{tmp_path}")
    windowed = load_source(f"csv:{tmp_path}", start=START, end=END)
    _same(windowed, whole)
    # what is materialised per file: the window and at most a day either side, not the file
    one = read_bars_file("csv", tmp_path / "S0.csv", window=DateWindow(START, END))
    assert one.height <= _in_window(bars.filter(pl.col("symbol") == "S0")).height + 2
    assert one["_line"].min() > 2  # lines keep their numbers in the file


def test_parquet_window_is_pushed_into_the_scan_and_equals_the_whole_read(tmp_path):
    path = tmp_path / "bars.parquet"
    _bars().sort("date", "symbol").write_parquet(path, row_group_size=200)
    whole = load_source(f"parquet:{path}")
    windowed = load_source(f"parquet:{path}", start=START.isoformat(), end=END.isoformat())
    _same(windowed, whole)
    window = DateWindow(START, END)
    plan = pl.scan_parquet(path).filter(window.scan_filter("date", pl.Date())).explain()
    assert "SELECTION" in plan  # the filter is the scan's predicate, not a step after it
    one = read_bars_file("parquet", path, window=window)
    assert one.height <= _in_window(whole.bars).height + 2 * 4


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_zoned_instants_at_the_windows_edges_are_read_in_the_markets_zone(tmp_path, kind):
    # 16:00 UTC is the next day in Shanghai: the day before START is START there, END's is not END
    stamps = [datetime(2012, 2, 28, 16), datetime(2012, 2, 29, 16), datetime(2012, 8, 31, 16)]
    frame = pl.DataFrame(
        {
            "symbol": ["XYZ"] * 3,
            "date": pl.Series(stamps).dt.replace_time_zone("UTC"),
            **{c: [10.0, 10.5, 10.2] for c in ("open", "high", "low", "close")},
            "volume": [1000.0] * 3,
        }
    )
    path = tmp_path / f"bars.{kind}"
    if kind == "csv":
        frame.with_columns(pl.col("date").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(path)
    else:
        frame.write_parquet(path)
    spec, zone = f"{kind}:{path}", {"timezone": "Asia/Shanghai"}
    windowed = load_source(spec, start=START, end=END, **zone).bars
    assert windowed["date"].to_list() == [date(2012, 3, 1)]
    assert windowed.equals(_in_window(load_source(spec, **zone).bars))


def test_outside_the_window_a_bad_number_is_not_read_but_a_bad_date_is_still_named(tmp_path):
    text = (
        "date,open,high,low,close,volume\n"
        "2011-06-01,1,1,1,oops,10\n"  # outside the window: never parsed as a number
        "2012-03-01,1,1,1,1,10\n"
    )
    path = tmp_path / "XYZ.csv"
    path.write_text(text)
    with pytest.raises(UserInputError, match="line 2: 'oops'"):
        load_source(f"csv:{path}")
    assert load_source(f"csv:{path}", start=START, end=END).bars.height == 1
    path.write_text(text.replace("2011-06-01", "1st of June"))
    with pytest.raises(UserInputError, match="line 2: '1st of June'"):  # could be in the window
        load_source(f"csv:{path}", start=START, end=END)


def test_a_bad_window_bound_is_named():
    with pytest.raises(UserInputError, match="csv option start='March' is not an ISO date"):
        DateWindow.of("March", None, "csv")
    assert DateWindow.of(None, None, "csv") is None


def test_an_empty_parquet_file_is_refused_but_a_file_outside_the_window_is_not(tmp_path):
    bars = _bars(n_stocks=1, days=30)  # January 2011 only
    bars.write_parquet(tmp_path / "old.parquet")
    bars.clear().write_parquet(tmp_path / "empty.parquet")
    window = DateWindow(START, END)
    assert read_bars_file("parquet", tmp_path / "old.parquet", window=window).height == 0
    with pytest.raises(UserInputError, match="empty.parquet: file holds no rows"):
        read_bars_file("parquet", tmp_path / "empty.parquet", window=window)
    with pytest.raises(UserInputError, match="empty.parquet: file holds no rows"):
        load_source(f"parquet:{tmp_path / 'empty.parquet'}")
