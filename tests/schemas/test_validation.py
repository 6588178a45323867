"""validate_table: complete readable reports, clear column errors, and quarantine."""

from datetime import date

import polars as pl
import pytest

from cnnlstm.core.errors import DataValidationError
from cnnlstm.schemas.bars import BAR_COLUMNS, BarsSchema, BenchmarkSchema
from cnnlstm.schemas.validation import validate_table


def bars_with_problems() -> pl.DataFrame:
    """Row 0 fine; 1 negative open + negative volume; 2 high < low; 3 NaN close; 4 dup of 0."""
    return pl.DataFrame(
        {
            "symbol": ["A", "B", "C", "D", "A"],
            "date": [date(2020, 1, 2)] * 4 + [date(2020, 1, 3)],
            "open": [10.0, -1.0, 5.0, 7.0, 10.0],
            "high": [11.0, 2.0, 4.0, 7.5, 11.0],
            "low": [9.0, 0.5, 4.5, 6.5, 9.0],
            "close": [10.5, 1.0, 4.8, float("nan"), 10.5],
            "volume": [100.0, -3.0, 10.0, 10.0, 100.0],
            "amount": [1050.0, 3.0, 48.0, 70.0, 1050.0],
        }
    )


def test_valid_table_returns_every_row_in_schema_order():
    df = bars_with_problems().head(1).select(list(reversed(BAR_COLUMNS)))
    outcome = validate_table(df, BarsSchema, table="bars")
    assert outcome.valid.columns == list(BAR_COLUMNS)
    assert outcome.rejected == 0


def test_report_names_every_failing_check_with_counts_and_examples():
    with pytest.raises(DataValidationError) as err:
        validate_table(bars_with_problems(), BarsSchema, table="bars")
    text = str(err.value)
    assert "bars failed validation: 3 of 5 row(s) break 4 check(s)" in text
    assert "open: must be > 0: 1 row(s)" in text
    assert "volume: must be >= 0: 1 row(s)" in text
    assert "low <= open, close <= high: 2 row(s)" in text
    assert "close: missing (null or NaN): 1 row(s)" in text
    assert "row 1: symbol=B date=2020-01-02 open=-1.0" in text
    assert "row 2: symbol=C date=2020-01-02" in text
    assert err.value.failures.height >= 4


def test_duplicates_are_reported_with_both_rows():
    df = bars_with_problems()
    df = df.with_columns(date=pl.lit(date(2020, 1, 2))).filter(pl.col("symbol") == "A")
    with pytest.raises(DataValidationError, match=r"duplicate \(symbol, date\): 2 row\(s\)"):
        validate_table(df, BarsSchema, table="bars")


def test_missing_column_suggests_closest_name():
    df = bars_with_problems().rename({"close": "Close", "volume": "volumn"})
    with pytest.raises(DataValidationError) as err:
        validate_table(df, BarsSchema, table="bars")
    text = str(err.value)
    assert "missing column 'close' (did you mean 'Close'?)" in text
    assert "missing column 'volume' (did you mean 'volumn'?)" in text


def test_unreadable_dates_are_named_by_row():
    df = bars_with_problems().head(1).with_columns(date=pl.lit("2020-13-45"))
    with pytest.raises(DataValidationError, match=r"date: not readable as Date: 1 row\(s\)"):
        validate_table(df, BarsSchema, table="bars")


def test_quarantine_writes_rejected_rows_with_reasons(tmp_path):
    path = tmp_path / "q" / "bars.csv"
    outcome = validate_table(
        bars_with_problems(),
        BarsSchema,
        table="bars",
        on_invalid="quarantine",
        quarantine_path=path,
    )
    assert outcome.rejected == 3
    assert outcome.valid["symbol"].to_list() == ["A", "A"]
    assert outcome.reasons["open: must be > 0"] == 1
    written = pl.read_csv(path)
    assert written["row"].to_list() == [1, 2, 3]
    assert "open: must be > 0" in written["reasons"][0]
    assert "volume: must be >= 0" in written["reasons"][0]


def test_quarantine_needs_a_path_from_the_caller():
    # schemas own no file locations: the caller (ingest: the store's folder) names the file
    with pytest.raises(DataValidationError, match="needs a quarantine_path"):
        validate_table(bars_with_problems(), BarsSchema, table="bars", on_invalid="quarantine")


def test_benchmark_duplicate_dates_fail():
    df = pl.DataFrame({"symbol": ["X", "X"], "date": [date(2020, 1, 2)] * 2, "close": [1.0, 2.0]})
    with pytest.raises(DataValidationError, match=r"duplicate date: 2 row\(s\)"):
        validate_table(df, BenchmarkSchema, table="benchmark")
