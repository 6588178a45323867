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
