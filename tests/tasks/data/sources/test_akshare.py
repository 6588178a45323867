"""AkShare exports: headers, lots -> shares, and distorted forward-adjusted stretches."""

from datetime import date, timedelta

import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.bars import BAR_COLUMNS
from cnnlstm.tasks.data.sources.akshare import (
    REASON_LIMIT,
    REASON_NONPOSITIVE,
    REASON_STRETCH,
    find_distorted_stretches,
)
from cnnlstm.tasks.data.sources.base import load_benchmark, load_source

HEADER = "日期,股票代码,开盘,收盘,最高,最低,成交量,成交额,振幅,涨跌幅,涨跌额,换手率\n"


def series(symbol, closes, start=date(2020, 1, 1), skip=()):
    """Bars with the given closes on consecutive days (minus `skip` day numbers)."""
    days = [start + timedelta(days=i) for i in range(len(closes) + len(skip))]
    days = [d for i, d in enumerate(days) if i not in skip][: len(closes)]
    return pl.DataFrame(
        [(symbol, d, c, c, c, c, 1.0, c) for d, c in zip(days, closes, strict=True)],
        schema=list(BAR_COLUMNS),
        orient="row",
    )


def test_shared_files_match_raw_rows_and_volume_in_shares(shared_data):
    root = shared_data / "cn-akshare-sample"
    data = load_source(f"akshare:{root / '000598.csv'}")
    raw = pl.read_csv(root / "000598.csv", schema_overrides={"股票代码": pl.String})
    assert data.bars.height == raw.height
    assert data.bars["symbol"].unique().to_list() == ["000598"]
    assert data.bars["date"].min() == date(2018, 1, 2)
    assert data.bars["volume"].to_list() == (raw["成交量"] * 100).cast(pl.Float64).to_list()
    assert data.bars["amount"].to_list() == raw["成交额"].to_list()
    assert "volume converted from lots of 100 to shares" in data.report.notes


def test_distorted_stretch_runs_to_the_last_impossible_move():
    # Day 7 moves +15% on a 10% main board: every row up to it is distorted; later rows are fine.
    closes = [10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 10.6, 12.19, 12.3, 12.4]
    suspect = find_distorted_stretches(series("600000", closes))
    assert suspect["date"].max() == date(2020, 1, 8)
    assert suspect.height == 8
    reasons = dict(suspect.group_by("reason").len().iter_rows())
    assert reasons == {REASON_LIMIT: 1, REASON_STRETCH: 7}


def test_non_positive_price_marks_the_stretch():
    closes = [-0.5, 0.2, 0.3, 0.31, 0.32, 0.33, 0.34, 0.35]
    suspect = find_distorted_stretches(series("000001", closes), listing_days=0)
    assert suspect.filter(pl.col("reason") == REASON_NONPOSITIVE).height == 1
    assert suspect["date"].max() >= date(2020, 1, 2)  # 0.2 -> 0.3 is +50%: beyond any limit


def test_listing_days_resumptions_and_board_limits_are_not_flagged():
    listing = series("600001", [10.0, 14.4, 17.0, 18.0, 19.0, 19.5, 19.6])  # first 5 days free
    chinext = series("300001", [10.0] * 6 + [11.9, 14.2], start=date(2021, 3, 1))  # 20% board
    calendar_fill = series("600003", [5.0] * 12)  # makes every day a trading day
    resumed = series("600002", [10.0] * 6 + [13.0], skip=(6, 7, 8))  # gap: a resumption
    bars = pl.concat([listing, chinext, calendar_fill, resumed]).sort("symbol", "date")
    assert find_distorted_stretches(bars).height == 0


def test_rounding_at_the_limit_is_not_flagged():
    # 3.58 * 1.1 = 3.938 -> the real limit-up price 3.94 (+10.06%)
    closes = [3.58] * 6 + [3.94]
    assert find_distorted_stretches(series("600000", closes)).height == 0


def test_st_symbols_use_the_five_percent_limit():
    closes = [10.0] * 6 + [10.8]
    bars = series("600000", closes)
    assert find_distorted_stretches(bars).height == 0
    assert find_distorted_stretches(bars, st_symbols=["600000"]).height == 7


def test_shared_sample_reports_its_distorted_stretches(shared_data):
    data = load_source(f"akshare:{shared_data / 'cn-akshare-sample'}")
    assert data.report.stocks == 30 and data.report.rows == 56898
    assert data.suspect is not None and data.suspect.height > 0
    assert data.suspect.filter(pl.col("reason") == REASON_LIMIT).height > 0
    assert any("forward-adjusted stretches" in n for n in data.report.notes)


def test_missing_header_and_benchmark_request(tmp_path):
    row = "2020-01-02,1,1,1,1,1,1,1,0,0,0,0\n"
    (tmp_path / "a.csv").write_text(HEADER.replace("收盘", "收市") + row)
    with pytest.raises(UserInputError, match="missing column.*'收盘'.*did you mean '收市'"):
        load_source(f"akshare:{tmp_path / 'a.csv'}")
    with pytest.raises(UserInputError, match="hold no benchmark"):
        load_benchmark(f"akshare:{tmp_path / 'a.csv'}")
