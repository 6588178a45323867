"""The one atomic write and the one file lock: whole files or none, a named lock timeout."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import polars as pl
import pytest

from cnnlstm.core.files import (
    LockTimeoutError,
    commit,
    file_lock,
    is_temporary,
    locked,
    stage,
    write_atomic,
)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "state.json"
    write_atomic(target, '{"day": 1}')

    def torn(tmp: Path) -> None:
        tmp.write_text('{"da')  # half a file, then the writer dies
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, torn)
    assert target.read_text() == '{"day": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_two_writers_staging_one_file_never_share_a_temporary(tmp_path):
    """Before: the live folder staged every write of `x` to `.x.tmp`, so a second writer's
    staging overwrote the first one's before it was committed."""
    target = tmp_path / "orders.parquet"
    first = stage(target, lambda p: pl.DataFrame({"a": [1]}).write_parquet(p))
    second = stage(target, lambda p: pl.DataFrame({"a": [2]}).write_parquet(p))
    assert first != second and is_temporary(first) and is_temporary(second)
    commit(first, target)
    assert pl.read_parquet(target)["a"].to_list() == [1]
    commit(second, target)
    assert pl.read_parquet(target)["a"].to_list() == [2]


def test_text_bytes_and_a_mode(tmp_path):
    assert write_atomic(tmp_path / "a.txt", "text").read_text() == "text"
    path = write_atomic(tmp_path / "b.bin", b"\x00\x01", mode=0o444)
    assert path.read_bytes() == b"\x00\x01" and path.stat().st_mode & 0o777 == 0o444


def _hold(lock_path: str, ready, release) -> None:  # noqa: ANN001 - multiprocessing events
    with locked(lock_path, timeout=5, what="the child's state"):
        ready.set()
        release.wait(10)


def test_a_lock_held_by_another_process_times_out_naming_what(tmp_path):
    lock_path = str(tmp_path / ".lock")
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold, args=(lock_path, ready, release))
    child.start()
    try:
        assert ready.wait(60)
        with (
            pytest.raises(LockTimeoutError, match=r"the live state of X is locked.*\.lock"),
            locked(lock_path, timeout=0.2, what="the live state of X"),
        ):
            pass
    finally:
        release.set()
        child.join(30)
    with locked(lock_path, timeout=5, what="free now"):
        pass


def test_a_reentrant_lock_may_be_taken_twice_in_one_process(tmp_path):
    outer = file_lock(tmp_path / ".lock", timeout=1, reentrant=True)
    inner = file_lock(tmp_path / ".lock", timeout=1, reentrant=True)
    with outer, inner:
        assert outer is inner and inner.is_locked
