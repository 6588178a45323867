"""No code from data: stage results are JSON, and a planted record runs nothing.

Before: stage results were cloudpickle under `$CNNLSTM_HOME/prefect-results/` and were
unpickled on every cache hit, so a planted record ran a command on the next `backtest`.
Prefect deserializes a record with the serializer the record names, so choosing the JSON
serializer is not enough: the records are checked before Prefect reads them.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
from pathlib import Path

import pytest
from prefect import flow

from cnnlstm.flows.stages.cache import RESULT_SERIALIZER, StageRunner, results_dir, stage_task
from cnnlstm.infra.artifacts import ArtifactRef, stage_cache_key

pytestmark = pytest.mark.usefixtures("prefect_harness")


class _Marker:
    """A pickle payload: unpickling it writes the marker file (what an attacker's would run)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (Path(self.path), "ran"))


@stage_task("toy_ref", version=1)
def toy_ref(name: str) -> ArtifactRef:
    return ArtifactRef(
        stage="toy",
        kind="json",
        path=f"/toy/{name}.json",
        fingerprint="0" * 32,
        meta={"name": name},
    )


@flow
def _twice(name: str) -> tuple[list[str], ArtifactRef, ArtifactRef]:
    run = StageRunner()
    first = run(toy_ref, name, label="first")
    second = run(toy_ref, name, label="second")
    return [run.states["first"], run.states["second"]], first, second


def test_stage_results_are_json_and_round_trip_their_refs():
    states, first, second = _twice("a")
    assert states == ["Completed", "Cached"]
    assert second == first and isinstance(second, ArtifactRef)
    record = json.loads((results_dir() / stage_cache_key("toy_ref", 1, {"name": "a"})).read_text())
    assert record["metadata"]["serializer"]["type"] == "json"
    assert json.loads(record["result"])["__class__"] == "cnnlstm.infra.artifacts.ArtifactRef"


def _plant(key_name: str, serializer: dict, result: str) -> Path:
    path = results_dir() / stage_cache_key("toy_ref", 1, {"name": key_name})
    record = {"metadata": {"serializer": serializer, "prefect_version": "3"}, "result": result}
    path.write_text(json.dumps(record))
    return path


def test_a_planted_pickle_record_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    payload = base64.b64encode(pickle.dumps(_Marker(str(marker)))).decode()
    path = _plant("p", {"type": "pickle", "picklelib": "pickle"}, payload)
    with pytest.warns(UserWarning, match="moved aside"):
        states, first, _ = _twice("p")
    assert not marker.exists()
    assert states == ["Completed", "Cached"] and first.meta == {"name": "p"}  # recomputed
    assert Path(str(path) + ".refused").exists()


def test_a_json_record_with_a_foreign_decoder_or_class_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = dict(RESULT_SERIALIZER.model_dump(mode="json"), object_decoder="os.system")
    _plant("d", evil, json.dumps({"cmd": f"touch {marker}"}))
    with pytest.warns(UserWarning, match="moved aside"):
        _twice("d")
    own = RESULT_SERIALIZER.model_dump(mode="json")
    data = {"__class__": "subprocess.Popen", "data": ["touch", str(marker)]}
    with pytest.raises(ValueError, match="not one of this project's"):
        RESULT_SERIALIZER.loads(json.dumps(data).encode())  # never imported, never called
    _plant("c", own, json.dumps(data))
    states, first, _ = _twice("c")  # Prefect takes the refused record as a miss: recomputes
    assert states == ["Completed", "Cached"] and first.meta == {"name": "c"}
    assert not marker.exists() and not os.path.exists("pwned")
