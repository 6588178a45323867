"""Training progress as log lines where no progress bar is shown."""

from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from cnnlstm.tasks.training.progress import ProgressLog, _duration, summary


class _Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss, on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(callback: ProgressLog, epochs: int = 3) -> None:
    data = TensorDataset(torch.randn(64, 4), torch.randn(64, 1))
    trainer = pl.Trainer(
        max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[callback], accelerator="cpu",
    )  # fmt: skip
    trainer.fit(_Tiny(), DataLoader(data, batch_size=16))


def test_lines_name_epoch_loss_elapsed_and_eta(caplog):
    with caplog.at_level(logging.INFO, logger="cnnlstm.progress"):
        _fit(ProgressLog("lstm", every_s=0))
    lines = [r.getMessage() for r in caplog.records if r.name == "cnnlstm.progress"]
    assert any(line.startswith("lstm: epoch 1/3 (batch 1/4)") for line in lines), lines
    assert any(line.startswith("lstm: epoch 3/3") and "ETA ~0s" in line for line in lines)
    last = lines[-1]
    assert last.startswith("lstm: done after epoch 3/3") and "train loss " in last
    loss = last.split("train loss ")[1].split(",")[0]
    assert len(loss.split(".")[1]) == 4  # rounded, not 16 digits


def test_silent_with_a_progress_bar_and_spaced_by_the_interval(caplog):
    with caplog.at_level(logging.INFO, logger="cnnlstm.progress"):
        _fit(ProgressLog("cnn", every_s=0, enabled=False))
        _fit(ProgressLog("cnn", every_s=3600))
    lines = [r.getMessage() for r in caplog.records if r.name == "cnnlstm.progress"]
    assert len(lines) == 1 and lines[0].startswith("cnn: done after epoch 3/3")  # the last only


def test_durations_read_like_a_clock():
    assert [_duration(s) for s in (4.4, 84, 3725)] == ["4s", "1m 24s", "1h 02m"]


def test_a_training_summary_is_one_rounded_line():
    line = summary({"val/loss": 0.6931471805599453, "best_epoch": 3.0, "fit_seconds": 12.3456})
    assert line == "val/loss 0.6931, best_epoch 3, fit_seconds 12.35"


def test_lines_count_mini_batches_when_steps_come_in_chunks(caplog):
    from cnnlstm.models.cnn import CnnShape
    from cnnlstm.models.data import TensorDataModule, chunk_steps
    from cnnlstm.models.modules import Classifier

    steps = chunk_steps(64)
    n = 64 * (steps + 24) + 17  # two chunks: `steps` mini-batches, then the 25 left
    x, y = torch.randn(n, 1, 32), torch.randint(0, 2, (n,))
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[ProgressLog("cnn", every_s=0)], accelerator="cpu",
        limit_val_batches=0,
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="cnnlstm.progress"):
        module = Classifier.for_network("cnn", CnnShape())
        trainer.fit(module, TensorDataModule(x, y, batch_size=64))
    lines = [r.getMessage() for r in caplog.records if r.name == "cnnlstm.progress"]
    total = steps + 25
    assert steps > 1 and trainer.num_training_batches == 2
    assert any(f"(batch {steps}/{total})" in line for line in lines), lines
    assert any(f"(batch {total}/{total})" in line for line in lines), lines
