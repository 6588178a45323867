import pytest
import pytorch_lightning as pl
import torch

from cnnlstm.models.cnn import CnnShape
from cnnlstm.models.data import TensorDataModule
from cnnlstm.models.lstm import LstmShape
from cnnlstm.models.modules import Classifier


def test_paper_init_draws_standard_normal_weights():
    torch.manual_seed(0)
    module = Classifier.for_network("cnn", CnnShape(), init="paper")
    flat = torch.cat([p.detach().flatten() for p in module.net.parameters()])
    assert abs(flat.mean().item()) < 0.05 and abs(flat.std().item() - 1) < 0.05
    default = Classifier.for_network("cnn", CnnShape())
    assert torch.cat([p.detach().flatten() for p in default.net.parameters()]).std() < 0.5


def test_adam_with_weight_decay():
    module = Classifier.for_network("lstm", LstmShape(), lr=0.01, weight_decay=0.1)
    opt = module.configure_optimizers()
    assert isinstance(opt, torch.optim.Adam)
    assert opt.defaults["lr"] == 0.01 and opt.defaults["weight_decay"] == 0.1


def test_one_epoch_logs_train_and_val_metrics(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(300, 30, 6)
    y = (x[:, -1, 1] > 0).long()  # learnable: sign of the last close z-score
    dm = TensorDataModule(x[:200], y[:200], x[200:], y[200:], batch_size=50)
    module = Classifier.for_network("lstm", LstmShape(hidden=8, dense=4), lr=0.01)
    trainer = pl.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=dm)
    names = set(trainer.callback_metrics)
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "val/auc"} <= names
    assert 0.0 <= float(trainer.callback_metrics["val/auc"]) <= 1.0
    probs = module.predict_step(x[:5], 0)
    assert probs.shape == (5,) and ((probs >= 0) & (probs <= 1)).all()


def test_train_metrics_are_exact_epoch_means(tmp_path):
    torch.manual_seed(1)
    x, y = torch.randn(230, 1, 32), torch.randint(0, 2, (230,))
    module = Classifier.for_network("cnn", CnnShape(dropout=0.0), lr=0.0)  # weights stay put
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=TensorDataModule(x, y, batch_size=64))  # 4 uneven batches
    with torch.no_grad():
        logits = module(x)
    expected_loss = torch.nn.functional.cross_entropy(logits, y)
    expected_acc = (logits.argmax(1) == y).float().mean()
    logged = trainer.callback_metrics
    assert float(logged["train/loss"]) == pytest.approx(float(expected_loss), rel=1e-5)
    assert float(logged["train/acc"]) == pytest.approx(float(expected_acc), rel=1e-6)


def test_assignment_keeps_module_semantics_and_hook_names_are_plain():
    module = Classifier.for_network("cnn", CnnShape())
    module.extra = torch.nn.Linear(2, 2)  # still registered as a submodule
    module.scale = torch.nn.Parameter(torch.ones(1))  # and as a parameter
    assert "extra" in dict(module.named_children())
    assert "scale" in dict(module.named_parameters())
    module._current_fx_name = "training_step"
    assert module._current_fx_name == "training_step"
    assert "_current_fx_name" not in module._modules and "_current_fx_name" not in module._buffers
