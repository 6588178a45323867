"""Qlib binary folders: start offsets, factor -> amount, suspensions, case-insensitive symbols."""

from datetime import date

import numpy as np
import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.data.sources.base import load_benchmark, load_source
from cnnlstm.tasks.data.sources.qlib import FIELDS

CALENDAR = ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07", "2020-01-08"]


def write_field(folder, name, start, values):
    folder.mkdir(parents=True, exist_ok=True)
    np.array([start, *values], dtype="<f4").tofile(folder / f"{name}.day.bin")


def make_folder(tmp_path):
    root = tmp_path / "qlib"
    (root / "calendars").mkdir(parents=True)
    (root / "calendars" / "day.txt").write_text("\n".join(CALENDAR) + "\n")
    (root / "instruments").mkdir()
    (root / "instruments" / "all.txt").write_text(
        "SH600000\t2020-01-03\t2020-01-08\nSZ000001\t2020-01-02\t2020-01-08\n"
        "SH000300\t2020-01-02\t2020-01-08\n"
    )
    a = root / "features" / "sh600000"  # lower-case folder name, starts on calendar day 1
    for name, vals in {
        "open": [10, 11, 11, 12],
        "high": [10.5, 11.5, 11, 12.5],
        "low": [9.5, 10.5, 11, 11.5],
        "close": [10, 11, 11, 12],
        "volume": [100, 200, 0, 300],  # day 3 suspended: volume 0, the close carried
        "factor": [2, 2, 2, 2],
    }.items():
        write_field(a, name, 1, vals)
    b = root / "features" / "SZ000001"
    for name in FIELDS:
        write_field(b, name, 0, [1.0 if name != "volume" else 50.0] * 5)
    write_field(root / "features" / "SH000300", "close", 0, [3000, 3010, 3020, 3030, 3040])
    return root


def test_reads_stocks_with_offsets_factor_amount_and_suspensions(tmp_path):
    root = make_folder(tmp_path)
    data = load_source(f"qlib:{root}")
    bars = data.bars
    assert bars["symbol"].unique().sort().to_list() == ["SH600000", "SZ000001"]  # index excluded
    a = bars.filter(pl.col("symbol") == "SH600000")
    assert a["date"].to_list() == [date(2020, 1, d) for d in (3, 6, 7, 8)]
    assert a["amount"].to_list() == [10 / 2 * 100, 11 / 2 * 200, 0.0, 12 / 2 * 300]
    assert data.report.suspended_days == 1
    assert any("raw close (close / factor) x volume" in n for n in data.report.notes)


def test_index_benchmark_case_insensitive(tmp_path):
    root = make_folder(tmp_path)
    bench = load_benchmark(f"qlib:{root}#sh000300")
    assert bench["symbol"].unique().to_list() == ["SH000300"]
    assert bench["close"].to_list() == [3000, 3010, 3020, 3030, 3040]
    with pytest.raises(UserInputError, match="no instrument 'SH000905'.*indices here: SH000300"):
        load_benchmark(f"qlib:{root}#SH000905")
    with pytest.raises(UserInputError, match="#SYMBOL"):
        load_benchmark(f"qlib:{root}")


def test_bad_folders_are_clear_errors(tmp_path):
    with pytest.raises(UserInputError, match="not a Qlib data folder"):
        load_source(f"qlib:{tmp_path}")
    root = make_folder(tmp_path)
    write_field(root / "features" / "SZ000001", "close", 3, [1.0] * 5)  # runs past the calendar
    with pytest.raises(UserInputError, match="calendar has 5 days"):
        load_source(f"qlib:{root}")
    (root / "features" / "SZ000001" / "close.day.bin").unlink()
    with pytest.raises(UserInputError, match="missing field file close.day.bin"):
        load_source(f"qlib:{root}")


def test_shared_sample_subset_matches_raw_bins(shared_data):
    root = shared_data / "cn-qlib-csi300-sample"
    data = load_source(f"qlib:{root}", symbols=["SH600010", "sh600017"])
    calendar = (root / "calendars" / "day.txt").read_text().split()
    raw = {f: np.fromfile(root / "features" / "SH600017" / f"{f}.day.bin", "<f4") for f in FIELDS}
    start = int(raw["close"][0])
    b = data.bars.filter(pl.col("symbol") == "SH600017")
    assert b.height == raw["close"].size - 1
    assert b["date"][0] == date.fromisoformat(calendar[start])
    expected = raw["close"][1:].astype(float) / raw["factor"][1:] * raw["volume"][1:]
    assert b["amount"].to_numpy() == pytest.approx(expected, rel=1e-6)
    assert data.report.suspended_days == int((data.bars["volume"] == 0).sum()) > 0
