from __future__ import annotations

import threading
from pathlib import Path

import mlflow
import polars as pl
import pytest
import pytorch_lightning
import torch
from mlflow import MlflowClient
from pydantic import BaseModel, ConfigDict
from support import mlflow_server

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.paths import data_home
from cnnlstm.infra import tracking
from cnnlstm.infra.artifacts import fingerprint_file
from cnnlstm.models.lstm import LstmShape
from cnnlstm.models.modules import Classifier

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow.store.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:sqlalchemy.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:starlette.*"),
]


class _Inner(BaseModel):
    model_config = ConfigDict(frozen=True)
    lr: float = 0.01
    layers: tuple[int, ...] = (8, 4)


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True)
    market: str = "cn"
    cnn: _Inner = _Inner()


@pytest.fixture()
def local_mlflow(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tracking.configure()


def test_tracking_uri_defaults_to_sqlite_in_data_home(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{data_home() / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.tracking_uri() == "http://127.0.0.1:5999"


def test_flatten_and_numeric_metrics():
    assert tracking.flatten(_Params()) == {"market": "cn", "cnn.lr": 0.01, "cnn.layers": [8, 4]}
    metrics = {"cnn_lstm": {"sharpe": 1.5, "name": "x", "ok": True}, "ic(mean)": float("nan")}
    assert tracking.numeric_metrics(metrics) == {"cnn_lstm.sharpe": 1.5}
    assert tracking.numeric_metrics({"ic(mean)": 0.1}) == {"ic_mean_": 0.1}


def test_run_holds_params_curves_metrics_and_files(local_mlflow, tmp_path):
    history = pl.DataFrame(
        {"epoch": [0, 1, 2], "train_loss": [0.9, 0.7, 0.6], "val_acc": [0.5, 0.55, 0.6]}
    )
    figure = tmp_path / "fig4_nav.png"
    figure.write_bytes(b"\x89PNG fake")
    with tracking.tracked_run("cnnlstm-test", run_name="unit") as run:
        tracking.log_params(_Params())
        assert tracking.log_history("cnn", history) == 3
        assert tracking.log_metrics({"cnn_lstm": {"sharpe": 1.2, "max_drawdown": -0.1}}) == 2
        tracking.log_frame(pl.DataFrame({"symbol": ["A"], "side": ["buy"]}), "ledger/trades.csv")
        tracking.log_files([figure], "figures")
    client = MlflowClient()
    data = client.get_run(run.info.run_id).data
    assert data.params == {"market": "cn", "cnn.lr": "0.01", "cnn.layers": "[8, 4]"}
    assert data.metrics == {
        "cnn/train_loss": 0.6,
        "cnn/val_acc": 0.6,
        "cnn_lstm.sharpe": 1.2,
        "cnn_lstm.max_drawdown": -0.1,
    }
    curve = client.get_metric_history(run.info.run_id, "cnn/train_loss")
    assert [(m.step, m.value) for m in sorted(curve, key=lambda m: m.step)] == [
        (0, 0.9),
        (1, 0.7),
        (2, 0.6),
    ]
    files = {f.path for f in client.list_artifacts(run.info.run_id, "ledger")}
    files |= {f.path for f in client.list_artifacts(run.info.run_id, "figures")}
    assert files == {"ledger/trades.csv", "figures/fig4_nav.png"}
    # artifacts live in the data directory, not in ./mlruns of the working directory
    assert (data_home() / "mlartifacts").is_dir()


def _model(seed: int) -> Classifier:
    torch.manual_seed(seed)
    return Classifier.for_network("lstm", LstmShape(n_features=2, hidden=3)).eval()


LINEAGE = tracking.Lineage(source_kind="sim", market="cn", universe="abc", protocol="p1")


def _checkpoint(module: Classifier, path: Path) -> Path:
    """`module` saved as a checkpoint of the training stage's form (weights + hyperparameters)."""
    torch.save(
        {
            "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": pytorch_lightning.__version__,
        },
        path,
    )
    return path


def _log_run(
    sharpe: float, seed: int, lineage: tracking.Lineage = LINEAGE
) -> tuple[str, tracking.RegisteredModel]:
    with tracking.tracked_run("cnnlstm-test") as run:
        tracking.log_metrics({"cnn_lstm": {"sharpe": sharpe}})
        reg = tracking.register_checkpoint(
            _checkpoint(_model(seed), data_home() / f"seed-{seed}-{lineage.protocol}.ckpt"),
            "t-cnn",
            tags=lineage.tags(),
            window=4,
        )
    return run.info.run_id, reg


def _versions(name: str) -> list[str]:
    return sorted(str(v.version) for v in MlflowClient().search_model_versions(f"name='{name}'"))


def test_one_checkpoint_used_by_many_runs_is_one_registered_version(local_mlflow, tmp_path):
    # one cached checkpoint reused by three seeds / folds / runs, one of them registering twice
    checkpoint = _checkpoint(_model(1), tmp_path / "cached.ckpt")
    found = []
    for _ in range(3):
        with tracking.tracked_run("cnnlstm-test"):
            found.append(tracking.register_checkpoint(checkpoint, "t-once", window=4))
            found.append(tracking.register_checkpoint(str(checkpoint), "t-once", window=4))
    assert _versions("t-once") == ["1"]
    assert {r.version for r in found} == {"1"} and len({r.run_id for r in found}) == 1
    assert tracking.alias_version("t-once", tracking.CHALLENGER).version == "1"
    tags = tracking.version_tags("t-once", "1")
    assert tags[tracking.CHECKPOINT_TAG] == fingerprint_file(checkpoint)
    other = _checkpoint(_model(2), tmp_path / "other.ckpt")  # another network: its own version
    with tracking.tracked_run("cnnlstm-test"):
        assert tracking.register_checkpoint(other, "t-once", window=4).version == "2"
    assert _versions("t-once") == ["1", "2"]


def test_two_runs_registering_one_checkpoint_at_once_keep_one_version(
    local_mlflow, tmp_path, monkeypatch
):
    checkpoint = _checkpoint(_model(1), tmp_path / "cached.ckpt")
    real_log_model = mlflow.pyfunc.log_model
    competitor: list[tracking.RegisteredModel] = []

    def other_run_registers_meanwhile(**kwargs):
        # while this run logs its model, another run registers the same checkpoint in full
        info = real_log_model(**kwargs)
        if not competitor:
            competitor.append(None)

            def other() -> None:
                with tracking.tracked_run("cnnlstm-test"):
                    competitor[0] = tracking.register_checkpoint(checkpoint, "t-race", window=4)

            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
        return info

    monkeypatch.setattr(mlflow.pyfunc, "log_model", other_run_registers_meanwhile)
    with tracking.tracked_run("cnnlstm-test"):
        mine = tracking.register_checkpoint(checkpoint, "t-race", window=4)
    assert _versions("t-race") == [competitor[0].version] == [mine.version]
    assert tracking.alias_version("t-race", tracking.CHALLENGER).version == mine.version


def test_models_registered_as_challenger_and_promoted_by_rule(local_mlflow):
    with pytest.raises(UserInputError, match="@champion"):
        tracking.load_model("t-cnn")
    rule = tracking.PromotionRule(metric="cnn_lstm.sharpe")
    first_run, first = _log_run(0.5, seed=1)
    assert tracking.alias_version("t-cnn", tracking.CHALLENGER).version == first.version
    assert tracking.promote_by_rule(["t-cnn"], first_run, rule)  # no champion yet
    worse_run, worse = _log_run(0.2, seed=2)
    assert tracking.alias_version("t-cnn", tracking.CHALLENGER).version == worse.version
    assert not tracking.promote_by_rule(["t-cnn"], worse_run, rule)
    assert tracking.alias_version("t-cnn").version == first.version
    better_run, better = _log_run(0.9, seed=3)
    assert not tracking.promote_by_rule(
        ["t-cnn"], better_run, rule.model_copy(update={"min_improvement": 0.5})
    )
    assert tracking.promote_by_rule(["t-cnn"], better_run, rule)
    module, version = tracking.load_model("t-cnn")
    assert version.version == better.version
    x = torch.ones(3, 4, 2)
    assert torch.allclose(module(x), _model(3)(x))
    # never compared across datasets or protocols, however good the metric (issue 12)
    other_run, _ = _log_run(9.0, seed=4, lineage=LINEAGE.model_copy(update={"universe": "xyz"}))
    decision = tracking.compare_to_champion("t-cnn", other_run, rule)
    assert not decision.promote and "not comparable: dataset" in decision.reason
    later_run, _ = _log_run(9.0, seed=5, lineage=LINEAGE.model_copy(update={"protocol": "p2"}))
    assert not tracking.promote_by_rule(["t-cnn"], later_run, rule)
    gate = tracking.compare_to_champion("t-cnn", worse_run, rule)  # the dry run's table
    assert not gate.promote and gate.rows[0].metric == "cnn_lstm.sharpe"
    assert gate.rows[0].margin == pytest.approx(0.2 - 0.9) and "keep champion" in gate.describe()
    tracking.promote("t-cnn", worse.version)  # explicit promotion overrides the rule
    assert tracking.alias_version("t-cnn").version == worse.version


@pytest.mark.server
def test_logs_to_a_real_mlflow_server_over_http(tmp_path, monkeypatch):
    with mlflow_server(tmp_path, timeout=90) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        assert tracking.configure() == url
        with tracking.tracked_run("cnnlstm-http") as run:
            tracking.log_params(_Params())
            tracking.log_history(
                "lstm", [{"epoch": 0, "val_loss": 0.7}, {"epoch": 1, "val_loss": 0.6}]
            )
            tracking.log_frame(pl.DataFrame({"a": [1]}), "ledger/trades.csv")
        assert tracking.run_link(run.info.run_id).startswith(f"{url}/#/experiments/")
        client = MlflowClient(url)
        fetched = client.get_run(run.info.run_id)
        assert fetched.data.params["cnn.lr"] == "0.01"
        assert fetched.data.metrics["lstm/val_loss"] == 0.6
        assert [f.path for f in client.list_artifacts(run.info.run_id, "ledger")] == [
            "ledger/trades.csv"
        ]
    assert (tmp_path / "mlflow-artifacts").is_dir()  # stored by the server


def test_promote_command(local_mlflow, capsys):
    from cnnlstm.cli.main import main

    _, first = _log_run(0.5, seed=1)
    _log_run(0.7, seed=2)
    assert main(["promote", "t-cnn", first.version]) == 0
    out = capsys.readouterr().out
    assert f"t-cnn@champion: v{first.version}" in out and "t-cnn@challenger: v2" in out
    assert main(["promote", "t-cnn", "99"]) == 2
    assert "cannot promote t-cnn v99" in capsys.readouterr().err
