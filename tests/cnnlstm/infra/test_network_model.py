"""Registered networks are weights + typed config served by code: no pickle, no module paths."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pytest
import pytorch_lightning
import torch

from cnnlstm.infra import tracking
from cnnlstm.models.cnn import CnnShape
from cnnlstm.models.modules import Classifier, classifier_from_state, network_config


@pytest.fixture
def local_mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLSTM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield tmp_path


def _cnn(seed: int) -> Classifier:
    torch.manual_seed(seed)
    return Classifier.for_network("cnn", CnnShape(), lr=0.01).eval()


def _checkpoint(module: Classifier, folder: Path) -> Path:
    """`module` saved as a checkpoint of the training stage's form (weights + hyperparameters)."""
    path = folder / "cnn.ckpt"
    torch.save(
        {
            "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": pytorch_lightning.__version__,
        },
        path,
    )
    return path


def test_config_and_state_rebuild_the_same_network():
    module = _cnn(4)
    config = network_config(module)
    assert json.loads(json.dumps(config)) == config  # plain JSON, no classes
    rebuilt = classifier_from_state(config, module.state_dict())
    x = torch.randn(5, 1, 32)
    assert torch.equal(rebuilt(x), module(x))


def test_logged_model_holds_no_pickle_and_loads_back(local_mlflow):
    module = _cnn(7)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*pickle.*")
        with tracking.tracked_run("cnnlstm-test") as run:
            reg = tracking.register_checkpoint(_checkpoint(module, local_mlflow), "nm-cnn")
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/nm-cnn/{reg.version}"))
    names = {p.name for p in folder.rglob("*") if p.is_file()}
    assert {"weights.pt", "network.json", "network_model.py"} <= names
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".cloudpickle"))], names
    torch.load(next(folder.rglob("weights.pt")), weights_only=True)  # tensors only
    tracking.promote("nm-cnn", reg.version)
    loaded, version = tracking.load_model("nm-cnn")
    assert version.run_id == run.info.run_id
    x = torch.randn(3, 1, 32)
    assert torch.allclose(loaded(x), module(x))
    served = mlflow.pyfunc.load_model(f"models:/nm-cnn/{reg.version}")
    expected = module(x).softmax(dim=1)[:, 1].detach().numpy()
    assert np.allclose(served.predict(x.numpy()), expected, atol=1e-6)


def test_loading_runs_no_code_from_the_artifact_store(local_mlflow):
    module = _cnn(9)
    with tracking.tracked_run("cnnlstm-test"):
        reg = tracking.register_checkpoint(_checkpoint(module, local_mlflow), "nm-planted")
    tracking.promote("nm-planted", reg.version)
    marker = local_mlflow / "pwned"
    stored = Path(mlflow.artifacts.download_artifacts(f"models:/nm-planted/{reg.version}"))
    source = stored / "network_model.py"
    # the artifact store's own copy (a local store: the files under mlartifacts/)
    planted = [p for p in (local_mlflow / "home").rglob("network_model.py")]
    assert planted and source.exists()
    payload = f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
    for path in planted:
        path.write_text(path.read_text() + "\n" + payload)
    loaded, _ = tracking.load_model("nm-planted")
    assert not marker.exists()
    x = torch.randn(3, 1, 32)
    assert torch.equal(loaded(x), module(x))
    mlflow.pyfunc.load_model(f"models:/nm-planted/{reg.version}")  # MLflow's loader runs it:
    assert marker.exists()  # the plant was real (the old `load_model` used this loader)


def test_a_crafted_checkpoint_runs_nothing(tmp_path, monkeypatch):
    import pickle

    from cnnlstm.tasks.training.loop import load_classifier

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.write_text, (marker, "ran"))

    crafted = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Payload()}, crafted, pickle_module=pickle)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # explicit weights_only wins
    with pytest.raises(pickle.UnpicklingError):
        load_classifier(crafted)
    assert not marker.exists()
