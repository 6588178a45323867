"""`cnnlstm promote NAME VERSION --dry-run` prints the gate's comparison and changes nothing."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from cnnlstm.cli.main import main
from cnnlstm.infra import tracking

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
LINEAGE = tracking.Lineage(source_kind="sim", market="cn", universe="u1", protocol="p1")


def _version(name: str, metrics: dict[str, float], lineage: tracking.Lineage) -> str:
    with tracking.tracked_run("t-promote") as run:
        tracking.log_metrics(metrics)
    client = MlflowClient()
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(
        name, run.info.artifact_uri, run_id=run.info.run_id, tags=lineage.tags()
    )
    return str(version.version)


def test_dry_run_shows_the_comparison_and_changes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    metrics = {"cnn_oos.mean_rank_ic": 0.03, "cnn_lstm.excess_return": 0.05}
    first = _version("t-cnn", metrics, LINEAGE)
    tracking.promote("t-cnn", first)
    better = _version(
        "t-cnn", {"cnn_oos.mean_rank_ic": 0.05, "cnn_lstm.excess_return": 0.02}, LINEAGE
    )
    assert main(["promote", "t-cnn", better, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "cnn_oos.mean_rank_ic: challenger +0.0500, champion +0.0300" in out
    assert "cnn_lstm.excess_return" in out and "fail" in out and "keep champion" in out
    assert tracking.alias_version("t-cnn").version == first  # nothing moved
    other = _version("t-cnn", metrics, LINEAGE.model_copy(update={"universe": "u2"}))
    assert main(["promote", "t-cnn", other, "--dry-run"]) == 0
    assert "not comparable: dataset" in capsys.readouterr().out
