"""Issue 9 item 5: an artifact is checked when read, healed when rewritten, readable by others.

The measured case: a truncated cached metrics.json was copied to --out with exit 0, `--refresh`
did not heal it (the recomputed file was discarded because a file of that name existed), and the
failure named no file.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.infra.artifacts import (
    ArtifactCorruptError,
    store_file,
    write_arrays,
    write_json,
    write_table,
)


def truncate(path: str, keep: int = 10) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(keep)


def flip_last_byte(path: str) -> None:
    with open(path, "r+b") as handle:
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 0xFF]))


METRICS = {"sharpe": 1.23, "table2": [1, 2, 3]}


def test_a_truncated_json_artifact_is_refused_naming_the_file_and_the_fix():
    ref = write_json(METRICS, "report")
    truncate(ref.path)
    with pytest.raises(ArtifactCorruptError) as err:
        ref.local_path()  # what --out copies
    message = str(err.value)
    assert ref.path in message and "--refresh" in message
    assert isinstance(err.value, UserInputError)


def test_a_same_size_corruption_is_caught_by_the_checksum():
    ref = write_table(pl.DataFrame({"x": [1.0, 2.0, 3.0]}), "validate")
    flip_last_byte(ref.path)
    with pytest.raises(ArtifactCorruptError, match="checksum"):
        ref.read_table()


def test_rewriting_the_same_content_heals_a_corrupted_file():
    """What --refresh does: the recomputed bytes replace a file that does not match its name."""
    ref = write_json(METRICS, "report")
    truncate(ref.path)
    again = write_json(METRICS, "report")
    assert again.path == ref.path
    assert ref.read_json() == METRICS
    table = write_table(pl.DataFrame({"x": [1.0]}), "validate")
    flip_last_byte(table.path)
    write_table(pl.DataFrame({"x": [1.0]}), "validate")
    assert table.read_table()["x"].to_list() == [1.0]


def test_arrays_are_checked_on_read_and_healed_on_rewrite():
    arrays = {"x": np.arange(1000, dtype=np.float32).reshape(100, 10), "y": np.arange(100)}
    ref = write_arrays(arrays, "lstm_windows")
    truncate(ref.path, keep=200)
    with pytest.raises(ArtifactCorruptError, match=ref.path):
        ref.read_arrays()
    write_arrays(arrays, "lstm_windows")
    assert np.array_equal(ref.read_arrays()["x"], arrays["x"])


def test_artifacts_are_readable_by_other_users(tmp_path):
    (tmp_path / "model.ckpt").write_bytes(b"weights")
    refs = [
        write_table(pl.DataFrame({"x": [1]}), "t"),
        write_json({"a": 1}, "t"),
        write_arrays({"x": np.zeros(3)}, "t"),
        store_file(tmp_path / "model.ckpt", "t", kind="checkpoint"),
    ]
    import os

    for ref in refs:
        assert os.stat(ref.path).st_mode & 0o777 == 0o644, ref.path
