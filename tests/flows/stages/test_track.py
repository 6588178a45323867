"""count_trials: the experiment's trials, remembered while a local store is unwritten."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from cnnlstm.flows.stages import track
from cnnlstm.infra import tracking

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow.store.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:sqlalchemy.*"),
]


@pytest.fixture(autouse=True)
def _own_store(tmp_path, monkeypatch):
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI into the process environment, so
    # each test names its own store rather than relying on the per-test data home
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


def _log_trial(experiment: str, key: str | None, *, parent: bool = False) -> None:
    tracking.configure()
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found else client.create_experiment(experiment)
    tags = {"cnnlstm.kind": "parent"} if parent else {}
    if key is not None:
        tags["cnnlstm.trial"] = key
    run = client.create_run(exp_id, tags=tags)
    client.set_terminated(run.info.run_id)


def test_trials_are_counted_from_mlflow_then_remembered_until_the_store_is_written(monkeypatch):
    _log_trial("exp", "a")
    _log_trial("exp", "b")
    _log_trial("exp", None, parent=True)  # a parent run is not a trial
    asked = []
    real = track.experiment_trials

    def counted(experiment):
        asked.append(experiment)
        return real(experiment)

    monkeypatch.setattr(track, "experiment_trials", counted)
    assert track.count_trials("exp", ["a", "new"]) == 3
    assert track.count_trials("exp", ["a", "new"]) == 3
    assert track.count_trials("exp", ["other"]) == 3
    assert asked == ["exp"]  # the store was not written: the remembered answer

    _log_trial("exp", "c")  # any write changes the store's stamp
    assert track.count_trials("exp", ["new"]) == 4
    assert asked == ["exp", "exp"]


def test_a_damaged_memo_is_asked_again(monkeypatch):
    _log_trial("exp", "a")
    assert track.count_trials("exp", []) == 1
    (memo,) = (tracking.data_home() / "cache" / "trials").glob("*.json")
    memo.write_text("{not json")
    assert track.count_trials("exp", ["b"]) == 2
    assert memo.read_text().startswith("{")


def test_a_server_store_has_no_stamp_and_every_write_changes_a_local_one(tmp_path):
    assert tracking.store_stamp("http://127.0.0.1:5000") is None
    assert tracking.store_stamp(f"sqlite:///{tmp_path / 'absent.db'}") is None
    _log_trial("exp", "a")
    uri = tracking.tracking_uri()
    before = tracking.store_stamp(uri)
    assert before is not None
    assert tracking.store_stamp(uri) == before
    _log_trial("exp", "b")
    assert tracking.store_stamp(uri) != before
