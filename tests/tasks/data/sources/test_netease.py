"""NetEase 163 index exports: GBK, newest first, apostrophe codes, `None` cells."""

from datetime import date

import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.data.sources.base import load_benchmark, load_source

HEADER = "日期,股票代码,名称,收盘价,最高价,最低价,开盘价,前收盘,涨跌额,涨跌幅,成交量,成交金额\n"
ROWS = [
    "2020-01-03,'000905,中证500,5400.5,5410,5380,5390,5390.1,10.4,0.19,100,1000",
    "2020-01-02,'000905,中证500,5390.1,5400,5300,5310,None,None,None,90,900",
]


def write(path, rows, encoding="gbk"):
    path.write_bytes((HEADER + "\n".join(rows) + "\n").encode(encoding))
    return path


def test_reads_gbk_newest_first_with_apostrophes_and_none(tmp_path):
    bench = load_benchmark(f"netease:{write(tmp_path / 'i.csv', ROWS)}")
    assert bench["symbol"].to_list() == ["000905", "000905"]
    assert bench["date"].to_list() == [date(2020, 1, 2), date(2020, 1, 3)]
    assert bench["close"].to_list() == [5390.1, 5400.5]
    named = load_benchmark(f"netease:{tmp_path / 'i.csv'}#CSI500")
    assert named["symbol"].unique().to_list() == ["CSI500"]


def test_wrong_encoding_is_a_clear_error(tmp_path):
    path = tmp_path / "i.csv"
    path.write_bytes((HEADER + "\n".join(ROWS)).encode("utf-16"))
    with pytest.raises(UserInputError, match="not valid gbk text"):
        load_benchmark(f"netease:{path}")


def test_oldest_first_file_is_out_of_order(tmp_path):
    path = write(tmp_path / "i.csv", list(reversed(ROWS)))
    with pytest.raises(UserInputError, match=r"dates out of order \(expected newest first\)"):
        load_benchmark(f"netease:{path}")


def test_missing_close_is_named_not_skipped(tmp_path):
    rows = [ROWS[0], ROWS[1].replace("5390.1,5400", "None,5400")]
    with pytest.raises(UserInputError, match=r"1 row\(s\) without a close \(lines 3\)"):
        load_benchmark(f"netease:{write(tmp_path / 'i.csv', rows)}")


def test_netease_is_a_benchmark_not_a_stock_source(tmp_path):
    with pytest.raises(UserInputError, match="pass it as --benchmark"):
        load_source(f"netease:{write(tmp_path / 'i.csv', ROWS)}")


@pytest.mark.parametrize(
    ("name", "rows", "first", "last"),
    [
        ("000905.csv", 3835, date(2005, 1, 4), date(2020, 10, 16)),
        ("399006.csv", 2521, date(2010, 6, 1), date(2020, 10, 16)),
    ],
)
def test_shared_index_files(shared_data, name, rows, first, last):
    path = shared_data / "cn-index-163-sample" / name
    bench = load_benchmark(f"netease:{path}")
    raw_rows = len(path.read_bytes().decode("gbk").strip().splitlines()) - 1
    assert bench.height == raw_rows == rows
    assert (bench["date"].min(), bench["date"].max()) == (first, last)
    assert bench["date"].is_sorted()
    assert bench["close"].min() > 0 and not bench["close"].is_null().any()
    assert bench.schema["close"] == pl.Float64
