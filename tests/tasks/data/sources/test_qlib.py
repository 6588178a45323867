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


def _long_folder(tmp_path):
    """A Qlib folder of business days 2010-01-04 .. 2026-05-08 and stocks with other spans."""
    days = np.arange(np.datetime64("2010-01-04"), np.datetime64("2026-05-09"))
    days = days[np.is_busday(days)]
    root = tmp_path / "long"
    (root / "calendars").mkdir(parents=True)
    (root / "calendars" / "day.txt").write_text("\n".join(str(d) for d in days) + "\n")
    rng = np.random.default_rng(0)
    spans = {"SH600000": (0, days.size), "SZ000002": (1300, days.size), "SH600003": (5, 900)}
    for symbol, (a, b) in spans.items():
        close = 10 * np.exp(np.cumsum(rng.normal(0, 0.01, b - a)))
        volume = rng.integers(0, 5, b - a) * 100.0  # some days suspended (volume 0)
        close[7] = np.nan  # Qlib padding: a day with no value in any field
        folder = root / "features" / symbol
        for name, vals in {"open": close, "high": close * 1.01, "low": close * 0.99,
                           "close": close, "volume": np.where(np.isnan(close), np.nan, volume),
                           "factor": np.full(b - a, 2.0)}.items():  # fmt: skip
            write_field(folder, name, a, vals)
    return root, days, spans


def test_a_date_window_reads_only_its_days_and_equals_the_whole_read(tmp_path, monkeypatch):
    from cnnlstm.tasks.data.sources import qlib

    root, days, spans = _long_folder(tmp_path)
    read: list[int] = []
    real = qlib._read_values
    monkeypatch.setattr(
        qlib,
        "_read_values",
        lambda path, first, count: read.append(count) or real(path, first, count),
    )
    whole = load_source(f"qlib:{root}").bars
    read_whole = sum(read)
    read.clear()
    part = load_source(f"qlib:{root}", start="2014-01-01", end=date(2017, 12, 31))
    lo, hi = (
        np.searchsorted(days, np.datetime64("2014-01-01")),
        np.searchsorted(days, np.datetime64("2017-12-31"), side="right"),
    )
    in_window = sum(max(0, min(b, hi) - max(a, lo)) for a, b in spans.values())
    assert sum(read) == in_window * len(FIELDS)  # what was read: the window's values only
    assert read_whole == sum(b - a for a, b in spans.values()) * len(FIELDS)
    assert sum(read) < read_whole / 3
    expected = whole.filter(pl.col("date").is_between(date(2014, 1, 1), date(2017, 12, 31)))
    assert part.bars.equals(expected)  # the same rows and values as the whole read, cut
    assert part.bars["symbol"].unique().sort().to_list() == ["SH600000", "SZ000002"]
    assert any("read calendar days 2014-01-01 .. 2017-12-29 only" in n for n in part.report.notes)
    empty = load_source(f"qlib:{root}", symbols=["SH600003"], start="2015-01-01").bars
    assert empty.height == 0  # a stock that ended before the window: nothing read, no row
    with pytest.raises(UserInputError, match="start='2014-13-01' is not an ISO date"):
        load_source(f"qlib:{root}", start="2014-13-01")


def test_shared_sample_window_equals_the_whole_read(shared_data):
    root = shared_data / "cn-qlib-csi300-sample"
    symbols = ["SH600010", "SH600017"]
    whole = load_source(f"qlib:{root}", symbols=symbols).bars
    part = load_source(f"qlib:{root}", symbols=symbols, start="2014-01-01", end="2017-12-31")
    cut = whole.filter(pl.col("date").is_between(date(2014, 1, 1), date(2017, 12, 31)))
    assert part.bars.height == cut.height > 0
    assert part.bars.equals(cut)


def test_instruments_file_is_a_membership_table_and_all_txt_the_listing(tmp_path):
    root = make_folder(tmp_path)
    (root / "instruments" / "csi300.txt").write_text(
        "SH600000\t2020-01-03\t2020-01-03\nSH600000\t2020-01-07\t2020-01-08\n"
        "SZ000001\t2020-01-02\t2020-01-06\nSH600999\t2020-01-02\t2020-01-08\n"  # no folder
    )
    data = load_source(f"qlib:{root}", instruments="csi300")
    assert data.universe_name == "CSI 300"
    assert data.membership.filter(pl.col("symbol") == "SH600000").height == 2  # two periods
    assert "SH600999" in data.membership["symbol"].to_list()  # named, counted downstream
    assert sorted(data.bars["symbol"].unique().to_list()) == ["SH600000", "SZ000001"]
    assert any("1 member(s) of instruments/csi300.txt have no features folder: SH600999" in n
               for n in data.report.notes)  # fmt: skip
    # all.txt: listing periods of stocks (the index instrument is no stock)
    assert sorted(data.listing["symbol"].to_list()) == ["SH600000", "SZ000001"]
    with pytest.raises(UserInputError, match="no features folder for SH600999"):
        load_source(f"qlib:{root}", symbols=["SH600999"])  # named explicitly: refused


@pytest.mark.parametrize(
    ("days", "message"),
    [
        (
            ["2020-01-02", "2020-01-06", "2020-01-03", "2020-01-07", "2020-01-08"],
            "line 3: 2020-01-03 comes before the date on line 2",
        ),
        (
            ["2020-01-02", "2020-01-03", "2020-01-03", "2020-01-07", "2020-01-08"],
            "line 3: 2020-01-03 repeats",
        ),
    ],
)
def test_unsorted_or_repeated_calendar_is_refused_naming_the_line(tmp_path, days, message):
    root = make_folder(tmp_path)
    (root / "calendars" / "day.txt").write_text("\n".join(days) + "\n")
    with pytest.raises(UserInputError, match=message):
        load_source(f"qlib:{root}")


def test_a_bin_of_odd_size_or_fractional_header_is_refused(tmp_path):
    from cnnlstm.tasks.data.sources.qlib import read_field

    good = tmp_path / "close.day.bin"
    np.array([2.0, 10.0, 10.5, 11.0], dtype="<f4").tofile(good)
    assert read_field(good, 10)[0] == 2
    odd = tmp_path / "odd.day.bin"
    odd.write_bytes(good.read_bytes()[:-1])  # a truncated file: 15 bytes
    with pytest.raises(UserInputError, match="not a whole number of float32"):
        read_field(odd, 10)
    fractional = tmp_path / "frac.day.bin"
    np.array([2.5, 10.0, 10.5], dtype="<f4").tofile(fractional)
    with pytest.raises(UserInputError, match="2.5, not a whole number"):
        read_field(fractional, 10)
