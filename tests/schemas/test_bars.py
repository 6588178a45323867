"""The bars and benchmark contracts accept good tables and reject each kind of bad row."""

from datetime import date

import pandera.errors
import polars as pl
import pytest

from cnnlstm.schemas.bars import BAR_COLUMNS, BarsSchema, BenchmarkSchema


def good_bars() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": ["A", "A", "B"],
            "date": [date(2020, 1, 2), date(2020, 1, 3), date(2020, 1, 2)],
            "open": [10.0, 10.5, 5.0],
            "high": [11.0, 10.8, 5.2],
            "low": [9.5, 10.1, 4.9],
            "close": [10.4, 10.2, 5.0],
            "volume": [1000, 0, 300],  # Int64 is coerced; volume 0 = suspended day
            "amount": [10400.0, 0.0, 1500.0],
        }
    )


def test_good_bars_pass_and_are_coerced():
    out = BarsSchema.validate(good_bars())
    assert tuple(out.columns) == BAR_COLUMNS
    assert out.schema["volume"] == pl.Float64


@pytest.mark.parametrize(
    ("column", "value", "check"),
    [
        ("open", -1.0, "greater_than(0)"),
        ("close", 0.0, "greater_than(0)"),
        ("volume", -5, "greater_than_or_equal_to(0)"),
        ("amount", float("nan"), "not_nullable"),
        ("high", 9.0, "low <= open, close <= high"),
        ("low", 12.0, "low <= open, close <= high"),
        ("high", float("inf"), "finite prices, volume and amount"),
    ],
)
def test_each_bad_value_fails_its_check(column, value, check):
    bad = good_bars().with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(value).otherwise(pl.col(column)).alias(column)
    )
    with pytest.raises(pandera.errors.SchemaErrors) as err:
        BarsSchema.validate(bad, lazy=True)
    cases = err.value.failure_cases
    assert check in cases["check"].to_list()
    assert 0 in cases.filter(pl.col("check") == check)["index"].to_list()


def test_duplicate_symbol_date_fails():
    bars = good_bars()
    with pytest.raises(pandera.errors.SchemaErrors) as err:
        BarsSchema.validate(pl.concat([bars, bars.head(1)]), lazy=True)
    assert "multiple_fields_uniqueness" in err.value.failure_cases["check"].to_list()


def test_benchmark_one_row_per_date():
    bench = pl.DataFrame(
        {"symbol": ["IDX", "IDX"], "date": [date(2020, 1, 2)] * 2, "close": [100.0, 101.0]}
    )
    with pytest.raises(pandera.errors.SchemaErrors):
        BenchmarkSchema.validate(bench, lazy=True)
    assert BenchmarkSchema.validate(bench.head(1)).height == 1


@pytest.mark.parametrize("symbol", ["A\x00B", "A\nB", "A B", "\u200bA", "X" * 300])
def test_symbols_are_printable_and_of_sane_length(symbol):
    bars = good_bars().with_columns(pl.Series("symbol", [symbol, symbol, "B"]))
    with pytest.raises(pandera.errors.SchemaError, match="symbol"):
        BarsSchema.validate(bars)


def test_real_symbols_pass():
    symbols = ["SH600000", "BRK.B", "000001.SZ", "中国平安"]
    bars = pl.concat([good_bars().head(2).with_columns(symbol=pl.lit(s)) for s in symbols])
    assert BarsSchema.validate(bars).height == 2 * len(symbols)
