"""Issue 9, input side: numbers are parsed without guessing, and odd folders are reported.

Each case is one the issue measured: a decimal comma read as a thousands separator, symbols that
differ only in case, a blank line or a header-only file, a README beside the CSVs, a symlink
loop, and an AkShare export in GBK.
"""

import os

import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.data.ingest import ingest
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.data.sources.files import parse_numbers

HEADER = "date,open,high,low,close,volume,Name\n"


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def csv_with_close(tmp_path, closes, name="XYZ"):
    """One per-symbol CSV whose close column holds `closes` as quoted text."""
    days = ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]
    lines = [f'{d},1,99999,0.001,"{c}",100,{name}' for d, c in zip(days, closes, strict=False)]
    return write(tmp_path / "src" / f"{name}.csv", HEADER + "\n".join(lines) + "\n")


def parse(values, decimal="."):
    df = pl.DataFrame({"close": values}, schema={"close": pl.String})
    return parse_numbers(df, ["close"], "f.csv", decimal=decimal)["close"].to_list()


@pytest.mark.parametrize("text", ["12,50", "1.234,50", "12,5", "12,55", "1,23,456", "1,2345.0"])
def test_a_comma_that_is_not_thousands_grouping_is_an_error(tmp_path, text):
    """Before: "12,50" -> 1250, "1.234,50" -> 1.2345, "12,5" -> 125 (the comma was removed)."""
    csv_with_close(tmp_path, ["10.0", text])
    with pytest.raises(UserInputError) as err:
        load_source(f"csv:{tmp_path / 'src'}")
    message = str(err.value)
    assert "XYZ.csv line 3" in message and repr(text) in message
    assert "decimal" in message  # the option that reads it as a decimal comma is named


def test_thousands_grouping_is_read_where_it_matches_the_pattern():
    assert parse(["1,234.5", "1,234,567.89", "-1,000", "12.5", "7", " 3 "]) == [
        1234.5,
        1234567.89,
        -1000.0,
        12.5,
        7.0,
        3.0,
    ]


def test_decimal_comma_only_with_the_explicit_option(tmp_path):
    assert parse(["12,50", "1.234,50", "12,5", "12,55", "7"], decimal=",") == [
        12.5,
        1234.5,
        12.5,
        12.55,
        7.0,
    ]
    with pytest.raises(UserInputError, match=r"'12\.5'"):
        parse(["12.5"], decimal=",")  # a point is grouping only, under a decimal comma
    csv_with_close(tmp_path, ["12,5", "12,55"])
    data = load_source(f"csv:{tmp_path / 'src'}", decimal=",")
    assert data.bars["close"].to_list() == [12.5, 12.55]
    with pytest.raises(UserInputError, match="decimal"):
        load_source(f"csv:{tmp_path / 'src'}", decimal=";")


def test_symbols_differing_only_in_case_are_refused(tmp_path):
    """Before: GOOD and good were ingested as two stocks."""
    write(tmp_path / "src" / "a.csv", HEADER + "2020-01-02,1,2,0.5,1.5,100,GOOD\n")
    write(tmp_path / "src" / "b.csv", HEADER + "2020-01-02,1,2,0.5,1.5,100,good\n")
    with pytest.raises(UserInputError, match=r"differ only in case.*GOOD.*good"):
        ingest(f"csv:{tmp_path / 'src'}", tmp_path / "store")


def test_a_trailing_blank_line_is_not_a_row(tmp_path):
    """Before: the blank last line failed the whole folder without saying 'blank line'."""
    write(tmp_path / "src" / "a.csv", HEADER + "2020-01-02,1,2,0.5,1.5,100,A\n\n\n")
    write(tmp_path / "src" / "b.csv", HEADER + "2020-01-02,1,2,0.5,1.5,100,B\n")
    report = ingest(f"csv:{tmp_path / 'src'}", tmp_path / "store")
    assert report.rows == 2 and report.rows_added == 2


def test_a_blank_line_between_rows_is_named(tmp_path):
    text = HEADER + "2020-01-02,1,2,0.5,1.5,100,A\n\n2020-01-03,1,2,0.5,1.5,100,A\n"
    write(tmp_path / "src" / "a.csv", text)
    with pytest.raises(UserInputError, match=r"a\.csv: line 3 is blank"):
        load_source(f"csv:{tmp_path / 'src'}")


def test_a_header_only_file_in_a_folder_is_named(tmp_path):
    write(tmp_path / "src" / "a.csv", HEADER + "2020-01-02,1,2,0.5,1.5,100,A\n")
    write(tmp_path / "src" / "empty.csv", HEADER + "\n")
    with pytest.raises(UserInputError, match=r"empty\.csv: file has a header but no rows"):
        load_source(f"csv:{tmp_path / 'src'}")


def test_a_readme_beside_the_csvs_is_not_data_and_is_reported(tmp_path):
    """Before: README.txt was read as a CSV of bars (and failed or added rows)."""
    write(tmp_path / "src" / "a.csv", HEADER + "2020-01-02,1,2,0.5,1.5,100,A\n")
    write(tmp_path / "src" / "README.txt", "Daily bars downloaded 2020-01-03.\n")
    data = load_source(f"csv:{tmp_path / 'src'}")
    assert data.bars["symbol"].to_list() == ["A"]
    assert any("skipped 1 file(s)" in n and "README.txt" in n for n in data.report.notes)


def test_txt_data_files_are_read_when_asked(tmp_path):
    write(tmp_path / "src" / "a.us.txt", HEADER + "2020-01-02,1,2,0.5,1.5,100,A\n")
    with pytest.raises(UserInputError, match=r"suffix=\.txt"):
        load_source(f"csv:{tmp_path / 'src'}")
    data = load_source(f"csv:{tmp_path / 'src'}", suffix=".txt")
    assert data.bars["symbol"].to_list() == ["A"]


def test_a_symlink_loop_is_reported(tmp_path):
    """Before: a looping link was skipped without a word."""
    write(tmp_path / "src" / "a.csv", HEADER + "2020-01-02,1,2,0.5,1.5,100,A\n")
    os.symlink(tmp_path / "src" / "loop.csv", tmp_path / "src" / "loop.csv")
    with pytest.raises(UserInputError, match=r"loop\.csv.*(loop|broken)"):
        load_source(f"csv:{tmp_path / 'src'}")


AKSHARE_HEADER = "日期,股票代码,开盘,收盘,最高,最低,成交量,成交额\n"


def test_akshare_reader_takes_an_encoding(tmp_path):
    text = AKSHARE_HEADER + "2020-01-02,600000,10.0,10.1,10.2,9.9,100,101000\n"
    write(tmp_path / "ak" / "600000.csv", text, encoding="gbk")
    with pytest.raises(UserInputError, match="not valid utf8"):
        load_source(f"akshare:{tmp_path / 'ak'}")
    data = load_source(f"akshare:{tmp_path / 'ak'}", encoding="gbk")
    assert data.bars["symbol"].to_list() == ["600000"]


def csv_with_column(tmp_path, column, values, name="XYZ"):
    """One per-symbol CSV whose `column` holds `values` as quoted text (other fields plain)."""
    days = ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]
    fields = {"open": "1", "high": "99999", "low": "0.001", "close": "10", "volume": "100"}
    lines = []
    for day, value in zip(days, values, strict=False):
        row = fields | {column: f'"{value}"'}
        lines.append(",".join([day, *row.values(), name]))
    return write(tmp_path / "src" / f"{name}.csv", HEADER + "\n".join(lines) + "\n")


@pytest.mark.parametrize("column", ["close", "volume"])
def test_an_ambiguous_comma_is_refused_with_file_column_line_and_value(tmp_path, column):
    """Before: "1,234" was read as 1234 without a word (it may be 1.234 with a decimal comma)."""
    csv_with_column(tmp_path, column, ["1", "2", "1,234", "3"])
    with pytest.raises(UserInputError) as err:
        load_source(f"csv:{tmp_path / 'src'}")
    message = str(err.value)
    assert "XYZ.csv line 4: '1,234'" in message and repr(column) in message
    assert "decimal=" in message  # the option that states the separator is named


def test_a_stated_separator_reads_the_ambiguous_comma(tmp_path):
    csv_with_column(tmp_path, "volume", ["1", "2", "1,234", "3"])
    grouped = load_source(f"csv:{tmp_path / 'src'}", decimal=".")
    assert grouped.bars["volume"].to_list() == [1, 2, 1234, 3]
    decimal = load_source(f"csv:{tmp_path / 'src'}", decimal=",")
    assert decimal.bars["volume"].to_list() == [1, 2, 1.234, 3]


@pytest.mark.parametrize("proof", ["12,345,678", "1,234.5", "12.5"])
def test_the_same_file_and_column_settle_the_ambiguity(proof):
    """A cell that reads one way only (two groups, a decimal point) settles the column's commas."""
    df = pl.DataFrame({"close": ["1,234", proof], "_file": ["a.csv", "a.csv"]})
    assert parse_numbers(df, ["close"], "a.csv")["close"][0] == 1234
    other_file = pl.DataFrame({"close": ["1,234", proof], "_file": ["a.csv", "b.csv"]})
    with pytest.raises(UserInputError, match="a.csv line 2: '1,234'"):
        parse_numbers(other_file, ["close"], "src")


def test_akshare_refuses_an_ambiguous_comma_unless_stated(tmp_path):
    header = "日期,股票代码,开盘,收盘,最高,最低,成交量,成交额\n"
    rows = [f"2020-01-0{d},600000,10,10,10,10,{v},1000" for d, v in ((2, "1"), (3, '"1,234"'))]
    path = write(tmp_path / "ak" / "600000.csv", header + "\n".join(rows) + "\n")
    with pytest.raises(UserInputError, match="600000.csv: column 'volume' .* line 3: '1,234'"):
        load_source(f"akshare:{path}")
    assert load_source(f"akshare:{path}", decimal=".").bars["volume"][1] == 123400
