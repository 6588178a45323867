from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from pydantic import BaseModel, ConfigDict

from cnnlstm.core.errors import UserInputError
from cnnlstm.infra.artifacts import (
    ArtifactMissingError,
    ArtifactRef,
    artifacts_root,
    fingerprint_file,
    fingerprint_input_path,
    stage_cache_key,
    store_file,
    write_arrays,
    write_json,
    write_table,
)


class _Cfg(BaseModel):
    model_config = ConfigDict(frozen=True)
    lr: float = 1e-3
    epochs: int = 2


def _frame(n: int = 5) -> pl.DataFrame:
    return pl.DataFrame({"symbol": [f"S{i}" for i in range(n)], "x": [float(i) for i in range(n)]})


def test_write_table_is_content_addressed_and_round_trips():
    ref = write_table(_frame(), "features", meta={"months": 3})
    path = Path(ref.path)
    assert path.parent == artifacts_root() / "features"
    assert path.name == f"{ref.fingerprint}.parquet"
    assert ref.fingerprint == fingerprint_file(path)
    assert ref.rows == 5 and ref.columns == ("symbol", "x") and ref.meta == {"months": 3}
    assert ref.read_table().equals(_frame())
    # identical content: same file, no temporary files left behind
    again = write_table(_frame(), "features")
    assert again.path == ref.path and again.fingerprint == ref.fingerprint
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    # different content: a different address
    assert write_table(_frame(6), "features").fingerprint != ref.fingerprint


def test_failed_write_leaves_no_partial_file(monkeypatch):
    def boom(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        write_table(_frame(), "features")
    assert list((artifacts_root() / "features").iterdir()) == []


def test_json_and_file_artifacts(tmp_path):
    ref = write_json({"b": 1, "a": date(2020, 1, 31)}, "report")
    assert ref.read_json() == {"a": "2020-01-31", "b": 1}
    assert write_json({"a": date(2020, 1, 31), "b": 1}, "report").fingerprint == ref.fingerprint
    src = tmp_path / "model.ckpt"
    src.write_bytes(b"weights")
    ckpt = store_file(src, "train_cnn", kind="checkpoint")
    assert ckpt.kind == "checkpoint" and ckpt.path.endswith(".ckpt")
    assert Path(ckpt.path).read_bytes() == b"weights"
    with pytest.raises(TypeError, match="not a table"):
        ckpt.read_table()


def test_ref_round_trips_through_json_and_reports_missing_file():
    ref = write_table(_frame(), "ingest")
    assert ArtifactRef.model_validate_json(ref.model_dump_json()) == ref
    os.remove(ref.path)
    with pytest.raises(ArtifactMissingError, match="ingest.*missing.*refresh"):
        ref.read_table()


def test_cache_key_depends_on_fingerprints_params_and_version_only(tmp_path):
    a = write_table(_frame(), "features")
    moved = a.model_copy(update={"path": str(tmp_path / "elsewhere.parquet")})
    key = stage_cache_key("train_lstm", 1, {"windows": a, "cfg": _Cfg()})
    assert key.startswith("train_lstm-")
    # the path is not content: a moved data directory keeps its cache
    assert stage_cache_key("train_lstm", 1, {"cfg": _Cfg(), "windows": moved}) == key
    assert stage_cache_key("train_lstm", 2, {"windows": a, "cfg": _Cfg()}) != key
    assert stage_cache_key("train_cnn", 1, {"windows": a, "cfg": _Cfg()}) != key
    assert stage_cache_key("train_lstm", 1, {"windows": a, "cfg": _Cfg(lr=1e-2)}) != key
    b = write_table(_frame(7), "features")
    assert stage_cache_key("train_lstm", 1, {"windows": b, "cfg": _Cfg()}) != key


def test_cache_key_refuses_frames():
    with pytest.raises(TypeError, match="ArtifactRef"):
        stage_cache_key("select", 1, {"scores": _frame()})


def test_input_path_fingerprint_follows_edits(tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "A.csv").write_text("date,close\n2020-01-02,1\n")
    first = fingerprint_input_path(folder)
    assert fingerprint_input_path(folder) == first
    (folder / "B.csv").write_text("date,close\n")
    assert fingerprint_input_path(folder) != first
    with pytest.raises(UserInputError, match="does not exist"):
        fingerprint_input_path(tmp_path / "nope")


def test_arrays_artifact_is_addressed_by_content():
    import numpy as np

    arrays = {"x": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "y": np.array([0, 1])}
    ref = write_arrays(arrays, "lstm_windows")
    assert ref.kind == "arrays" and ref.rows == 2 and ref.columns == ("x", "y")
    back = ref.read_arrays()
    assert np.array_equal(back["x"], arrays["x"]) and back["x"].dtype == np.float32
    assert write_arrays(dict(arrays), "lstm_windows").path == ref.path
    changed = {"x": arrays["x"], "y": np.array([1, 1])}
    assert write_arrays(changed, "lstm_windows").fingerprint != ref.fingerprint


def test_refs_nested_in_models_count_by_fingerprint(tmp_path):
    class _Out(BaseModel):
        bars: ArtifactRef
        name: str

    ref = write_table(_frame(), "validate")
    moved = ref.model_copy(update={"path": str(tmp_path / "x.parquet")})
    key = stage_cache_key("select", 1, {"data": _Out(bars=ref, name="SIM")})
    assert stage_cache_key("select", 1, {"data": _Out(bars=moved, name="SIM")}) == key
    other = write_table(_frame(3), "validate")
    assert stage_cache_key("select", 1, {"data": _Out(bars=other, name="SIM")}) != key


def test_runtime_settings_are_not_part_of_a_cached_trainings_key():
    from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

    base = stage_cache_key("train_cnn", 1, {"cfg": CnnTrainConfig()})
    runtime = CnnTrainConfig(threads=1, progress_bar=True, devices=1, precision="32-true")
    assert stage_cache_key("train_cnn", 1, {"cfg": runtime}) == base  # reuses the training
    assert stage_cache_key("train_cnn", 1, {"cfg": CnnTrainConfig(lr=0.01)}) != base
    lstm = stage_cache_key("train_lstm", 1, {"cfg": LstmTrainConfig(threads=2)})
    assert lstm == stage_cache_key("train_lstm", 1, {"cfg": LstmTrainConfig(progress_bar=False)})
