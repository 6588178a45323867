"""CSV/Parquet sources: the Kaggle layout, column mappings, and a clear error for each bad file."""

import shutil
from datetime import date

import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.bars import BAR_COLUMNS
from cnnlstm.tasks.data.sources.base import load_benchmark, load_source

KAGGLE = (
    "date,open,high,low,close,volume,Name\n"
    "2013-02-08,10.0,10.5,9.8,10.2,1000,XYZ\n"
    "2013-02-11,10.2,10.9,10.1,10.8,2000,XYZ\n"
    "2013-02-12,10.8,11.0,10.5,10.6,0,XYZ\n"
)


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def test_kaggle_layout_loads_without_mapping_and_derives_amount(tmp_path):
    write(tmp_path / "stocks" / "XYZ_data.csv", KAGGLE)
    write(tmp_path / "stocks" / "ABC_data.csv", KAGGLE.replace("XYZ", "ABC"))
    data = load_source(f"csv:{tmp_path / 'stocks'}")
    assert data.bars.columns == list(BAR_COLUMNS)
    assert data.bars["symbol"].to_list() == ["ABC"] * 3 + ["XYZ"] * 3
    assert data.bars["amount"].to_list()[:2] == [10.2 * 1000, 10.8 * 2000]
    assert data.report.stocks == 2 and data.report.rows == 6
    assert data.report.suspended_days == 2
    assert any("amount derived as close x volume" in n for n in data.report.notes)


def test_long_table_with_column_mapping_and_parquet(tmp_path):
    long = pl.DataFrame(
        {
            "Ticker": ["A", "A", "B"],
            "Day": ["2020/01/02", "2020/01/03", "2020/01/02"],
            "O": [1.0, 1.1, 2.0],
            "H": [1.2, 1.2, 2.1],
            "L": [0.9, 1.0, 1.9],
            "C": [1.1, 1.15, 2.0],
            "Vol": [10, 20, 30],
            "Turnover": [11.0, 23.0, 60.0],
        }
    )
    mapping = {
        "symbol": "Ticker",
        "date": "Day",
        "open": "O",
        "high": "H",
        "low": "L",
        "close": "C",
        "volume": "Vol",
        "amount": "Turnover",
    }
    long.write_csv(tmp_path / "long.csv")
    long.write_parquet(tmp_path / "long.parquet")
    from_csv = load_source(f"csv:{tmp_path / 'long.csv'}", columns=mapping).bars
    from_pq = load_source(f"parquet:{tmp_path / 'long.parquet'}", columns=mapping).bars
    assert from_csv.equals(from_pq)
    assert from_csv["date"].to_list() == [date(2020, 1, 2), date(2020, 1, 3), date(2020, 1, 2)]
    assert from_csv["amount"].to_list() == [11.0, 23.0, 60.0]


def test_misspelled_column_suggests_the_closest_name(tmp_path):
    write(tmp_path / "a.csv", KAGGLE.replace("close", "clsoe"))
    expected = r"missing column\(s\) 'close' \(did you mean 'clsoe'\?\)"
    with pytest.raises(UserInputError, match=expected):
        load_source(f"csv:{tmp_path / 'a.csv'}")


def test_wrong_encoding_is_named(tmp_path):
    write(tmp_path / "a.csv", KAGGLE.replace("XYZ", "平安银行"), encoding="gbk")
    with pytest.raises(UserInputError, match="not valid utf8 text.*encoding"):
        load_source(f"csv:{tmp_path / 'a.csv'}")
    data = load_source(f"csv:{tmp_path / 'a.csv'}", encoding="gbk")
    assert data.bars["symbol"][0] == "平安银行"


@pytest.mark.parametrize(("text", "message"), [("", "file is empty"), ("  \n", "file is empty")])
def test_empty_file(tmp_path, text, message):
    write(tmp_path / "a.csv", text)
    with pytest.raises(UserInputError, match=message):
        load_source(f"csv:{tmp_path / 'a.csv'}")


def test_header_without_rows(tmp_path):
    write(tmp_path / "a.csv", KAGGLE.splitlines()[0] + "\n")
    with pytest.raises(UserInputError, match="header but no rows"):
        load_source(f"csv:{tmp_path / 'a.csv'}")


def test_unparseable_dates_name_the_lines(tmp_path):
    write(tmp_path / "a.csv", KAGGLE.replace("2013-02-11", "11.02.2013"))
    expected = r"1 date\(s\) could not be read.*line 3: '11.02.2013'"
    with pytest.raises(UserInputError, match=expected):
        load_source(f"csv:{tmp_path / 'a.csv'}")


def test_dates_out_of_order_in_a_per_symbol_file(tmp_path):
    lines = KAGGLE.splitlines()
    write(tmp_path / "a.csv", "\n".join([lines[0], lines[2], lines[1], lines[3]]) + "\n")
    expected = r"dates out of order \(expected oldest first\) at .*line 3"
    with pytest.raises(UserInputError, match=expected):
        load_source(f"csv:{tmp_path / 'a.csv'}")


def test_text_in_a_number_column(tmp_path):
    write(tmp_path / "a.csv", KAGGLE.replace("10.8,2000", "10.8,2k"))
    expected = r"column 'volume' has 1 value\(s\) that are not numbers"
    with pytest.raises(UserInputError, match=expected):
        load_source(f"csv:{tmp_path / 'a.csv'}")


def test_folder_with_no_data_and_missing_path(tmp_path):
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty" / "notes.txt.bak", "x")
    with pytest.raises(UserInputError, match="holds no data files"):
        load_source(f"csv:{tmp_path / 'empty'}")
    with pytest.raises(UserInputError, match="no such file or folder"):
        load_source(f"csv:{tmp_path / 'nope'}")


def test_bad_specs_and_options(tmp_path):
    with pytest.raises(UserInputError, match="unknown source kind 'xls'"):
        load_source("xls:foo")
    with pytest.raises(UserInputError, match="must look like KIND:PATH"):
        load_source("stocks.csv")
    write(tmp_path / "a.csv", KAGGLE)
    with pytest.raises(UserInputError, match="does not take these options"):
        load_source(f"csv:{tmp_path / 'a.csv'}", colums={"close": "x"})


def test_benchmark_file_with_open_close_volume_only(tmp_path):
    write(tmp_path / "idx.csv", "date,open,close,volume\n2020-01-02,1,2,3\n2020-01-03,2,3,4\n")
    bench = load_benchmark(f"csv:{tmp_path / 'idx.csv'}#SPX")
    assert bench.columns == ["symbol", "date", "close"]
    assert bench["symbol"].to_list() == ["SPX", "SPX"]
    assert bench["close"].to_list() == [2.0, 3.0]


def test_us_sp500_subset_matches_raw_files(shared_data, tmp_path):
    """Real Kaggle files (a subset copied to tmp): row counts, date range, derived amount."""
    src = shared_data / "us-sp500-2013-2018" / "stocks"
    for name in ("AAPL_data.csv", "BHF_data.csv", "MSFT_data.csv"):
        shutil.copy(src / name, tmp_path / name)
    data = load_source(f"csv:{tmp_path}")
    raw = pl.read_csv(src / "AAPL_data.csv")
    aapl = data.bars.filter(pl.col("symbol") == "AAPL")
    assert aapl.height == raw.height
    assert aapl["date"].min() == date(2013, 2, 8) and aapl["date"].max() == date(2018, 2, 7)
    expected = (raw["close"] * raw["volume"]).to_list()
    assert aapl["amount"].to_list() == pytest.approx(expected)
    bhf = data.bars.filter(pl.col("symbol") == "BHF")
    assert bhf["date"].min() == date(2017, 7, 17)  # one of the series that start late
    assert bhf["open"].null_count() == 1  # the raw file's empty cells stay missing, not dropped
    bench = load_benchmark(f"csv:{shared_data / 'us-sp500-2013-2018' / 'index_gspc.csv'}")
    assert bench.height == 2516
    assert bench["date"].min() == date(2010, 1, 4)


UTC_CSV = (
    "date,open,high,low,close,volume,Name\n"
    "2010-01-03T16:00:00Z,10.0,10.5,9.8,10.2,1000,XYZ\n"  # Monday 2010-01-04 00:00 in Shanghai
    "2010-01-04T16:00:00Z,10.2,10.9,10.1,10.8,2000,XYZ\n"
    "2010-01-05T16:00:00.000Z,10.8,11.0,10.5,10.6,10,XYZ\n"
)


def test_utc_stamped_csv_is_read_in_the_markets_zone_or_refused(tmp_path):
    path = write(tmp_path / "XYZ.csv", UTC_CSV)
    with pytest.raises(UserInputError, match=r"XYZ.csv: column date holds date-time\(s\) with a "
                       r"time zone, e.g. .*line 2: '2010-01-03T16:00:00Z'.*timezone="):  # fmt: skip
        load_source(f"csv:{path}")  # the old reader took 2010-01-03 (a Sunday): one day early
    bars = load_source(f"csv:{path}", timezone="Asia/Shanghai").bars
    assert bars["date"].to_list() == [date(2010, 1, 4), date(2010, 1, 5), date(2010, 1, 6)]
    # the same instants on the New York clock are the days they were stamped
    ny = load_source(f"csv:{path}", timezone="America/New_York").bars
    assert ny["date"].to_list() == [date(2010, 1, 3), date(2010, 1, 4), date(2010, 1, 5)]
    offset = write(tmp_path / "o" / "XYZ.csv", UTC_CSV.replace("T16:00:00Z", " 00:00:00+08:00"))
    assert load_source(f"csv:{offset}", timezone="Asia/Shanghai").bars["date"][0] == date(
        2010, 1, 3
    )
    mixed = write(tmp_path / "m" / "XYZ.csv", UTC_CSV.replace("2010-01-04T16:00:00Z", "2010-01-05"))
    with pytest.raises(UserInputError, match="mixes date-times with a time zone and plain dates"):
        load_source(f"csv:{mixed}", timezone="Asia/Shanghai")


def test_tz_aware_parquet_is_read_in_the_markets_zone_or_refused(tmp_path):
    from datetime import datetime

    stamps = [datetime(2010, 1, d, 16) for d in (3, 4, 5)]
    frame = pl.DataFrame(
        {
            "symbol": ["XYZ"] * 3,
            "date": pl.Series(stamps).dt.replace_time_zone("UTC"),
            **{c: [10.0, 10.5, 10.2] for c in ("open", "high", "low", "close")},
            "volume": [1000.0] * 3,
        }
    )
    path = tmp_path / "bars.parquet"
    frame.write_parquet(path)
    with pytest.raises(UserInputError, match=r"bars.parquet: column date holds zoned \(UTC\)"):
        load_source(f"parquet:{path}")
    bars = load_source(f"parquet:{path}", timezone="Asia/Shanghai").bars
    assert bars["date"].to_list() == [date(2010, 1, 4), date(2010, 1, 5), date(2010, 1, 6)]
    naive = tmp_path / "naive.parquet"
    frame.with_columns(pl.col("date").dt.replace_time_zone(None)).write_parquet(naive)
    assert load_source(f"parquet:{naive}").bars["date"][0] == date(2010, 1, 3)  # its own date
