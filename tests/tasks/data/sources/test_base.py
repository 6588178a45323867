"""Source specs, and the simulated market wired in through `load_source("sim:")`."""

from datetime import date

import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.bars import BAR_COLUMNS, BarsSchema, BenchmarkSchema
from cnnlstm.schemas.validation import validate_table
from cnnlstm.tasks.data.sources.base import load_benchmark, load_source, parse_spec


@pytest.mark.parametrize(
    ("spec", "kind", "path", "symbol"),
    [
        ("qlib:/data/cn#SH000300", "qlib", "/data/cn", "SH000300"),
        ("CSV:stocks/", "csv", "stocks/", None),
        ("sim", "sim", "", None),
        ("yfinance:AAPL,MSFT", "yfinance", "AAPL,MSFT", None),
    ],
)
def test_parse_spec(spec, kind, path, symbol):
    parsed = parse_spec(spec, allow_symbol=True)
    assert (parsed.kind, parsed.path, parsed.symbol) == (kind, path, symbol)


def test_bad_specs():
    with pytest.raises(UserInputError, match="names no path"):
        parse_spec("qlib:")
    with pytest.raises(UserInputError, match="not a benchmark for other sources"):
        load_benchmark("sim:")


def test_simulated_market_passes_the_bars_and_benchmark_contracts():
    data = load_source("sim:", n_stocks=12, start="2012-01-01", end="2012-06-30", seed=5)
    assert data.bars.columns == list(BAR_COLUMNS)
    assert validate_table(data.bars, BarsSchema, table="bars").rejected == 0
    assert validate_table(data.benchmark, BenchmarkSchema, table="benchmark").rejected == 0
    assert data.report.stocks == 12
    assert data.bars["date"].min() >= date(2012, 1, 1)
    assert data.benchmark["symbol"].unique().to_list() == ["SIM_INDEX"]


def test_sim_options_are_checked():
    with pytest.raises(UserInputError, match="simulated market options: n_stocks"):
        load_source("sim:", n_stocks=-1)
