from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from prefect import flow
from prefect.logging import disable_run_logger

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.params import DataParams, Period, Protocol
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import (
    cnn_features,
    default_store,
    ingest,
    input_fingerprint,
    lstm_windows,
    research_span,
    validate,
)
from cnnlstm.tasks.features import CnnFeatureConfig, LstmWindowConfig

pytestmark = pytest.mark.usefixtures("prefect_harness")


@flow
def data_flow(data: DataParams, protocol: Protocol, window: LstmWindowConfig):
    run = StageRunner()
    ingested = run(ingest, data, input_fingerprint(data))
    dataset = run(validate, ingested, protocol, data)
    features = run(cnn_features, dataset.bars, CnnFeatureConfig())
    windows = run(lstm_windows, dataset.bars, window, protocol.train)
    return run.states, dataset, features, windows


def test_data_stages_write_refs_and_hit_the_cache(tiny_data, tiny_protocol):
    window = LstmWindowConfig(max_windows_per_month=50)
    states, dataset, features, windows = data_flow(tiny_data, tiny_protocol, window)
    assert states == dict.fromkeys(
        ["ingest", "validate", "cnn_features", "lstm_windows"], "Completed"
    )
    bars = dataset.bars.read_table()
    span = research_span(tiny_protocol)
    assert bars["date"].min() >= span.start and bars["date"].max() <= tiny_protocol.test.end
    assert dataset.benchmark_name == "SIM_INDEX" and not dataset.benchmark_derived
    table = features.read_table()
    assert table["month"].max() >= date(2013, 12, 1) and features.rows == table.height
    arrays = windows.read_arrays()
    assert arrays["x"].shape[1:] == (30, 6) and arrays["x"].shape[0] == arrays["y"].shape[0]
    # an identical re-run comes entirely from the cache, with the same references
    states2, dataset2, features2, windows2 = data_flow(tiny_data, tiny_protocol, window)
    assert set(states2.values()) == {"Cached"}
    assert (dataset2, features2, windows2) == (dataset, features, windows)
    # a window parameter change re-runs only the windows
    states3, *_ = data_flow(tiny_data, tiny_protocol, LstmWindowConfig(max_windows_per_month=40))
    assert states3 == {
        "ingest": "Cached",
        "validate": "Cached",
        "cnn_features": "Cached",
        "lstm_windows": "Completed",
    }


def test_windows_never_read_past_the_training_period(tiny_data, tiny_protocol):
    _, dataset, _, windows = data_flow(
        tiny_data, tiny_protocol, LstmWindowConfig(max_windows_per_month=20)
    )
    # changing every bar after the training period changes no training window or label
    bars = dataset.bars.read_table()
    shocked = bars.with_columns(
        pl.when(pl.col("date") > tiny_protocol.train.end)
        .then(pl.col(c) * 3)
        .otherwise(pl.col(c))
        .alias(c)
        for c in ("open", "high", "low", "close")
    )
    from cnnlstm.infra.artifacts import write_table

    shocked_ref = write_table(shocked, "validate")
    with disable_run_logger():
        again = lstm_windows.fn(
            shocked_ref, LstmWindowConfig(max_windows_per_month=20), tiny_protocol.train
        )
    assert again.fingerprint == windows.fingerprint


def test_validate_rejects_a_protocol_outside_the_data(tiny_data):
    late = Protocol(
        train=Period(start=date(2014, 1, 1), end=date(2015, 1, 1)),
        test=Period(start=date(2015, 2, 1), end=date(2015, 6, 1)),
    )
    with pytest.raises(UserInputError, match="the bars span"):
        data_flow(tiny_data, late, LstmWindowConfig())


def test_file_sources_fingerprint_their_files(tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "A.csv").write_text("date,open\n")
    data = DataParams(source=f"csv:{folder}")
    first = input_fingerprint(data)
    (folder / "A.csv").write_text("date,open,close\n")
    assert input_fingerprint(data) != first
    assert (
        input_fingerprint(DataParams(source="yfinance:AAPL"), today=date(2024, 1, 2))
        == "yfinance@2024-01-02"
    )
    assert default_store(data) != default_store(DataParams())


def _qlib_2010_2026(root):
    """A Qlib folder of 4 stocks over business days 2010-01-04 .. 2026-05-08."""
    import numpy as np

    days = np.arange(np.datetime64("2010-01-04"), np.datetime64("2026-05-09"))
    days = days[np.is_busday(days)]
    (root / "calendars").mkdir(parents=True)
    (root / "calendars" / "day.txt").write_text("\n".join(str(d) for d in days) + "\n")
    rng = np.random.default_rng(1)
    for i, symbol in enumerate(["SH600000", "SH600001", "SZ000002", "SZ000003"]):
        close = 10 * np.exp(np.cumsum(rng.normal(0, 0.01, days.size - 50 * i)))
        volume = rng.integers(1, 9, close.size) * 100.0
        cols = {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                "volume": volume, "factor": close * 0 + 1.5}  # fmt: skip
        folder = root / "features" / symbol
        folder.mkdir(parents=True)
        for name, vals in cols.items():
            np.array([50 * i, *vals], dtype="<f4").tofile(folder / f"{name}.day.bin")
    return days


def test_a_run_over_2014_2017_reads_only_its_span_of_a_2010_2026_store(tmp_path, monkeypatch):
    from cnnlstm.tasks.data import store as store_module
    from cnnlstm.tasks.data.sources import qlib

    _qlib_2010_2026(tmp_path / "qlib")
    data = DataParams(source=f"qlib:{tmp_path / 'qlib'}", store=str(tmp_path / "store"))
    protocol = Protocol(
        train=Period(start=date(2014, 1, 1), end=date(2015, 12, 31)),
        test=Period(start=date(2016, 1, 1), end=date(2017, 12, 31)),
    )
    span = research_span(protocol)  # 2012-10-01 .. 2017-12-31
    values: list[int] = []
    files: list[list[str]] = []
    read_values, year_files = qlib._read_values, store_module._year_files
    monkeypatch.setattr(
        qlib, "_read_values", lambda p, a, n: values.append(n) or read_values(p, a, n)
    )

    def spied_year_files(*args):
        found = year_files(*args)
        files.append([f.stem for f in found])
        return found

    monkeypatch.setattr(store_module, "_year_files", spied_year_files)
    with disable_run_logger():
        whole = ingest.fn(data, input_fingerprint(data))  # the store now holds 2010-2026
        whole_values, whole_files = sum(values), files[-1]
        values.clear()
        part = ingest.fn(data, input_fingerprint(data), span)
        assert files[-1] == [f"year={y}" for y in range(2012, 2018)]  # the span's years only
        assert whole_files[0] == "year=2010" and whole_files[-1] == "year=2026"
        assert 0 < sum(values) < whole_values / 2.5  # the .bin files: the span's values only
        cut = whole.bars.read_table().filter(pl.col("date").is_between(span.start, span.end))
        assert part.bars.read_table().equals(cut)  # what the run sees: the same rows and values
        assert (
            validate.fn(part, protocol, data)
            .bars.read_table()
            .equals(validate.fn(whole, protocol, data).bars.read_table())
        )


def test_the_markets_clock_reaches_the_readers_and_the_session_check():
    """cn: zoned stamps read in Asia/Shanghai and bars checked against XSHG; sim: neither."""
    from cnnlstm.flows.stages.data import market_clock

    options, sessions = market_clock(DataParams(source="csv:/data/stocks"), "cn")
    assert options["timezone"] == "Asia/Shanghai" and sessions.name == "XSHG"
    options, sessions = market_clock(DataParams(source="parquet:/d.parquet"), "us")
    assert options["timezone"] == "America/New_York" and sessions.name == "XNYS"
    told = DataParams(source="csv:/d", source_options={"timezone": "UTC"})
    assert market_clock(told, "cn")[0]["timezone"] == "UTC"  # the user's own word wins
    options, sessions = market_clock(DataParams(source="qlib:/q"), "cn")
    assert "timezone" not in options and sessions.name == "XSHG"
    assert market_clock(DataParams(source="sim"), "cn")[1] is None
    assert market_clock(DataParams(source="csv:/d"), None) == ({}, None)
