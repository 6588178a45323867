"""Online adapters, offline: the converters are fed frames of the libraries' documented output.

There is no network here. `akshare.stock_zh_a_hist` returns a frame with the Chinese headers of
the shared AkShare CSV exports (those files are exactly its output), so the AkShare adapter is fed
those rows. `yfinance.Ticker.history(auto_adjust=True)` returns a frame indexed by `Date` with
columns Open, High, Low, Close, Volume, Dividends, Stock Splits; the test builds that frame (with
the index reset to a column, as the fetch function does) from real Kaggle US rows.
"""

import importlib.util
from datetime import date

import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.data.sources.online import akshare_source, yfinance_source


def test_akshare_adapter_on_stock_zh_a_hist_frames(shared_data):
    root = shared_data / "cn-akshare-sample"
    frames = {
        code: pl.read_csv(root / f"{code}.csv", schema_overrides={"股票代码": pl.String})
        for code in ("000598", "600131")
    }
    frames["600131"] = frames["600131"].drop("股票代码")  # older akshare versions omit the code
    data = akshare_source(frames)
    assert data.bars["symbol"].unique().sort().to_list() == ["000598", "600131"]
    assert data.bars.height == sum(f.height for f in frames.values())
    first = frames["000598"].row(0, named=True)
    got = data.bars.row(0, named=True)
    assert got["volume"] == first["成交量"] * 100 and got["close"] == first["收盘"]
    assert data.suspect is not None  # the forward-adjustment checks run on online data too


def test_yfinance_adapter_on_history_frames(shared_data):
    raw = pl.read_csv(shared_data / "us-sp500-2013-2018" / "stocks" / "AAPL_data.csv").head(20)
    history = raw.select(
        pl.col("date").str.to_datetime().dt.replace_time_zone("America/New_York").alias("Date"),
        pl.col("open").alias("Open"),
        pl.col("high").alias("High"),
        pl.col("low").alias("Low"),
        pl.col("close").alias("Close"),
        pl.col("volume").alias("Volume"),
        pl.lit(0.0).alias("Dividends"),
        pl.lit(0.0).alias("Stock Splits"),
    )
    data = yfinance_source({"aapl": history})
    assert data.bars.height == 20
    assert data.bars["symbol"].unique().to_list() == ["AAPL"]
    assert data.bars["date"][0] == date(2013, 2, 8)
    assert data.bars["amount"][0] == pytest.approx(raw["close"][0] * raw["volume"][0])
    with pytest.raises(UserInputError, match="missing column"):
        yfinance_source({"AAPL": history.drop("Close")})


@pytest.mark.skipif(importlib.util.find_spec("yfinance") is not None, reason="yfinance installed")
def test_missing_optional_package_says_how_to_install():
    with pytest.raises(UserInputError, match=r"pip install 'cnnlstm\[online\]'"):
        load_source("yfinance:AAPL", start="2020-01-01", end="2020-02-01")


def test_bad_dates_and_empty_symbol_lists():
    with pytest.raises(UserInputError, match="not a date"):
        load_source("akshare-online:600000", start="01/02/2020")
    with pytest.raises(UserInputError, match="name at least one symbol"):
        load_source("akshare-online:,")
