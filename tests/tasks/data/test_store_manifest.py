"""A store that knows its bytes: truncated files, flipped bytes, a crash between commit and
marker, and a re-ingest over local damage.

Before checksums, one flipped byte at 983 offsets of a year file read back silently with other
values 766 times (a volume or amount flip passes every schema check), a truncated file failed
with `internal error: ComputeError` naming no file, and a re-ingest called the damage a
restatement by the source.
"""

from __future__ import annotations

import multiprocessing
import random
from datetime import date

import polars as pl
import pyarrow.parquet as pq
import pytest
from support import random_walk_bars

import cnnlstm.tasks.data.store as store_module
from cnnlstm.tasks.data.store import (
    StoreDamagedError,
    check_store,
    drop_damaged,
    read_bars,
    store_generation,
    stored_symbols,
    write_bars,
)
from cnnlstm.tasks.data.store_manifest import read_manifest


@pytest.fixture()
def store(tmp_path):
    days = pl.Series("date", pl.date_range(date(2014, 1, 1), date(2015, 12, 31), "1d", eager=True))
    days = days.filter(days.dt.weekday() <= 5)
    write_bars(tmp_path / "store", random_walk_bars(8, days, seed=1), source="csv:/data/bars")
    return tmp_path / "store"


def _year(store):
    return store / "bars" / "year=2014.parquet"


def _column_offsets(path, columns=("volume", "amount", "close")) -> dict[str, tuple[int, int]]:
    """(start, length) of each column chunk's bytes in the first row group."""
    group = pq.ParquetFile(path).metadata.row_group(0)
    out = {}
    for i in range(group.num_columns):
        chunk = group.column(i)
        if chunk.path_in_schema in columns:
            start = chunk.dictionary_page_offset or chunk.data_page_offset
            out[chunk.path_in_schema] = (start, chunk.total_compressed_size)
    return out


def _flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_every_file_gets_a_checksum_in_the_manifest(store):
    files = read_manifest(store)["files"]
    assert set(files) == {"bars/year=2014.parquet", "bars/year=2015.parquet"}
    assert check_store(store).clean and len(check_store(store).ok) == 2


def test_a_truncated_file_fails_naming_it_and_the_rebuild(store):
    path = _year(store)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(StoreDamagedError) as caught:
        read_bars(store)
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and str(path) in message
    assert "cnnlstm ingest --source csv:/data/bars" in message and "--drop-damaged" in message
    assert list(check_store(store).damaged) == ["bars/year=2014.parquet"]


def test_flipped_bytes_at_sampled_offsets_never_read_back_silently(store):
    path = _year(store)
    clean = path.read_bytes()
    chunks = _column_offsets(path)
    offsets = random.Random(0).sample(range(len(clean)), 12)
    offsets += [start + length // 2 for start, length in chunks.values()]  # volume, amount, close
    for offset in offsets:
        _flip(path, offset)
        with pytest.raises(StoreDamagedError, match="year=2014.parquet"):
            read_bars(store)
        with pytest.raises(StoreDamagedError, match="year=2014.parquet"):
            stored_symbols(store)
        assert list(check_store(store).damaged) == ["bars/year=2014.parquet"], offset
        path.write_bytes(clean)
    assert read_bars(store).height > 0


def test_a_reingest_over_local_damage_is_not_a_restatement(store):
    days = pl.Series("date", pl.date_range(date(2014, 1, 1), date(2015, 12, 31), "1d", eager=True))
    bars = random_walk_bars(8, days.filter(days.dt.weekday() <= 5), seed=1)
    path = _year(store)
    offset = sum(_column_offsets(path)["volume"]) - 8
    _flip(path, offset)
    with pytest.raises(StoreDamagedError):  # not RestatementError "by the source"
        write_bars(store, bars)
    before = store_generation(store)
    assert drop_damaged(store) == ["bars/year=2014.parquet"]
    assert store_generation(store) != before and not path.exists()
    written = write_bars(store, bars)  # the rebuild from the source
    assert written.added > 0 and not written.restated
    assert check_store(store).clean and read_bars(store).height == bars.height


def test_a_panic_inside_polars_is_named_not_an_internal_error(store, monkeypatch):
    path = _year(store)
    path.write_bytes(path.read_bytes()[:-40])  # a damaged footer
    manifest = store / "manifest.json"
    manifest.unlink()  # a store of before checksums: the parse itself must name the file

    def panicking(files):
        raise pl.exceptions.PanicException("index out of bounds")  # what polars raised once

    with pytest.raises(StoreDamagedError, match="year=2014.parquet"):
        store_module._read_checked(store, [path], panicking)


def _crash_after_commit_point(store_dir: str, seed: int) -> None:
    import os

    import cnnlstm.tasks.data.store as module

    real, calls = module._recover, []

    def recover(store):  # the lock's recovery runs; the commit's is where the process dies
        calls.append(store)
        if len(calls) > 1:
            os._exit(9)  # killed right after the journal landed, before renames and marker
        real(store)

    module._recover = recover
    days = pl.Series("date", pl.date_range(date(2016, 1, 4), date(2016, 3, 31), "1d", eager=True))
    module.write_bars(store_dir, random_walk_bars(3, days, seed=seed))


def test_a_commit_finished_after_a_crash_sets_generation_and_manifest(store):
    before = store_generation(store)
    proc = multiprocessing.get_context("spawn").Process(
        target=_crash_after_commit_point, args=(str(store), 5)
    )
    proc.start()
    proc.join(120)
    assert proc.exitcode == 9 and (store / "journal.json").exists()
    assert read_bars(store, start=date(2016, 1, 1)).height > 0  # completed by this reader
    assert store_generation(store) != before
    assert "bars/year=2016.parquet" in read_manifest(store)["files"]
    assert check_store(store).clean


def test_store_verify_finds_a_truncated_and_a_flipped_file(store, capsys):
    from cnnlstm.cli.main import main

    year14, year15 = _year(store), store / "bars" / "year=2015.parquet"
    year14.write_bytes(year14.read_bytes()[:-100])
    _flip(year15, sum(_column_offsets(year15)["amount"]) - 8)
    assert main(["store", "verify", "--store", str(store)]) == 2
    printed = capsys.readouterr().out
    assert f"damaged: {year14}" in printed and f"damaged: {year15}" in printed
    assert main(["store", "verify", "--store", str(store), "--drop-damaged"]) == 0
    assert not year14.exists() and not year15.exists()
    assert main(["store", "verify", "--store", str(store)]) == 0
