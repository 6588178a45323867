"""The project's fit is plain training: the same steps, in the same order, to the same weights.

`fit_classifier` hands Lightning chunks of mini-batches and steps the optimiser once per
mini-batch inside the training step (models/data.py, models/modules.py). These tests hold it to a
hand-written PyTorch loop bit for bit, and check that Lightning's step counter, precision plugin
and hooks see every optimiser step.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from cnnlstm.models.cnn import CnnShape
from cnnlstm.models.data import CHUNK_ROWS, TensorBatches, TensorDataModule
from cnnlstm.models.lstm import LstmShape
from cnnlstm.models.modules import Classifier
from cnnlstm.tasks.training.loop import fit_classifier, seed_all, torch_threads
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

BATCH = 512
STEPS = CHUNK_ROWS // BATCH  # mini-batches per chunk
N = BATCH * (STEPS + 5) + 17  # two chunks, the second short, a short last mini-batch


def _data(kind: str, n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    shape = (1, 32) if kind == "cnn" else (30, 6)
    x = torch.randn((n, *shape), generator=gen)
    y = (x.flatten(1)[:, 0] > 0).long()  # learnable, so the loss moves
    return x, y


def _module(kind: str) -> Classifier:
    shape = CnnShape(dropout=0.2) if kind == "cnn" else LstmShape(hidden=8, dense=4, dropout=0.2)
    seed_all(0)
    return Classifier.for_network(kind, shape, lr=1e-3, weight_decay=1e-4)


def _cfg(kind: str, epochs: int):
    cls = CnnTrainConfig if kind == "cnn" else LstmTrainConfig
    return cls(
        profile="paper",
        epochs=epochs,
        batch_size=BATCH,
        val_fraction=0.0,
        threads=1,
        progress_bar=False,
        seed=0,
    )


def _bare(kind: str, x, y, epochs: int) -> dict[str, torch.Tensor]:
    """The textbook loop: forward, zero the gradients, backward, Adam step, per mini-batch."""
    module = _module(kind)
    seed_all(0)  # fit_classifier seeds again before training (dropout, batch order)
    net = module.net.train()
    opt = module.configure_optimizers()
    batches = TensorBatches(x, y, BATCH, shuffle=True, seed=0)
    with torch_threads(1):
        for _ in range(epochs):
            for xb, yb in batches:
                loss = F.cross_entropy(net(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
    return net.state_dict()


def test_the_fit_trains_the_weights_a_plain_loop_trains(tmp_path):
    for kind in ("cnn", "lstm"):
        x, y = _data(kind)
        module = _module(kind)
        data = TensorDataModule(x, y, batch_size=BATCH, seed=0)
        trained = fit_classifier(module, data, _cfg(kind, 2), kind, tmp_path / kind)
        assert trained.metrics["steps_per_batch"] == STEPS  # chunks were used
        expected = _bare(kind, x, y, 2)
        got = module.net.state_dict()
        assert got.keys() == expected.keys()
        differing = [k for k in got if not torch.equal(got[k], expected[k])]
        assert differing == [], f"{kind}: weights differ from the plain loop in {differing}"


class _StepCounter(pl.Callback):
    """Counts the per-step hooks Lightning's strategy and precision plugin call."""

    def __init__(self):
        hooks = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
        self.calls = dict.fromkeys(hooks, 0)
        self.steps_at_epoch_end: list[int] = []

    def on_before_backward(self, trainer, pl_module, loss):
        self.calls["on_before_backward"] += 1

    def on_after_backward(self, trainer, pl_module):
        self.calls["on_after_backward"] += 1

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.calls["on_before_optimizer_step"] += 1

    def on_train_epoch_end(self, trainer, pl_module):
        self.steps_at_epoch_end.append(trainer.global_step)


def test_every_step_goes_through_lightning_and_is_counted(tmp_path):
    x, y = _data("cnn")
    counter = _StepCounter()
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        precision="bf16-mixed",  # the precision plugin's autocast and step path, on the CPU
        logger=False,
        callbacks=[counter],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    data = TensorDataModule(x, y, batch_size=BATCH)
    trainer.fit(_module("cnn"), datamodule=data)
    per_epoch = -(-N // BATCH)
    assert data.steps_per_batch == STEPS and trainer.num_training_batches == 2
    assert counter.steps_at_epoch_end == [per_epoch, 2 * per_epoch, 3 * per_epoch]
    assert counter.calls == dict.fromkeys(counter.calls, 3 * per_epoch)


def test_the_best_checkpoint_follows_the_steps(tmp_path):
    """ModelCheckpoint saves only when global_step moved: it must see a later best epoch."""
    x, y = _data("cnn")
    trained = fit_classifier(
        _module("cnn"), TensorDataModule(x, y, batch_size=BATCH), _cfg("cnn", 3), "cnn", tmp_path
    )
    losses = [row["train/loss"] for row in trained.history]
    best = min(range(3), key=losses.__getitem__)
    assert best > 0, f"the planted signal should lower the loss after epoch 0: {losses}"
    saved = torch.load(trained.checkpoint, map_location="cpu", weights_only=False)
    assert saved["epoch"] == best and saved["global_step"] == (best + 1) * -(-N // BATCH)
