"""Lightning's multi-device settings reach the Trainer from the training configuration.

The Trainer is the real one: a subclass only remembers the instances built, so the test can read
the accelerator, device count and strategy Lightning resolved from `accelerator / devices /
strategy`. DDP runs for real on the CPU (gloo, world size 1): the same code path a multi-GPU host
takes with `devices=N, strategy="ddp"`.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
import pytorch_lightning as pl_lightning
import torch
from pydantic import ValidationError
from pytorch_lightning.accelerators import CPUAccelerator
from pytorch_lightning.strategies import DDPStrategy, SingleDeviceStrategy

from cnnlstm.tasks.features.cnn import X_COLUMNS
from cnnlstm.tasks.training.networks import CnnTrainConfig, train_cnn


class _RecordingTrainer(pl_lightning.Trainer):
    """The real Trainer; keeps a reference to every instance so the test can inspect it."""

    built: list[pl_lightning.Trainer] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _RecordingTrainer.built.append(self)


@pytest.fixture()
def trainers(monkeypatch) -> list[pl_lightning.Trainer]:
    _RecordingTrainer.built = []
    monkeypatch.setattr(pl_lightning, "Trainer", _RecordingTrainer)
    return _RecordingTrainer.built


@pytest.fixture(scope="module")
def features() -> pl.DataFrame:
    """4 months x 32 stocks of random z-scored inputs with balanced labels."""
    rng = np.random.default_rng(0)
    months = [date(2012, m, 1) for m in range(1, 5)]
    rows = len(months) * 32
    x = rng.standard_normal((rows, len(X_COLUMNS)))
    return pl.DataFrame(
        {
            "symbol": [f"S{i % 32:02d}" for i in range(rows)],
            "month": [months[i // 32] for i in range(rows)],
            **{c: x[:, j] for j, c in enumerate(X_COLUMNS)},
            "label": pl.Series([i % 2 for i in range(rows)], dtype=pl.Int8),
        }
    )


QUICK = {"epochs": 1, "batch_size": 32, "val_fraction": 0.25, "progress_bar": False}


def test_defaults_train_on_one_device(features, trainers, tmp_path):
    model = train_cnn(features, CnnTrainConfig(accelerator="cpu", **QUICK), tmp_path)
    assert model.checkpoint.is_file()
    (trainer,) = trainers
    assert isinstance(trainer.accelerator, CPUAccelerator)
    assert isinstance(trainer.strategy, SingleDeviceStrategy)
    assert trainer.num_devices == 1


def test_ddp_from_the_config_trains_through_distributed_data_parallel(features, trainers, tmp_path):
    cfg = CnnTrainConfig(accelerator="cpu", devices=1, strategy="ddp", **QUICK)
    try:
        model = train_cnn(features, cfg, tmp_path)
    finally:  # leave no process group behind for the tests that follow
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    assert model.checkpoint.is_file()
    (trainer,) = trainers
    assert isinstance(trainer.strategy, DDPStrategy)
    assert trainer.strategy.process_group_backend == "gloo"
    assert trainer.world_size == 1 and trainer.num_devices == 1


class _Built(Exception):
    """Raised in place of `fit`, right after the Trainer is built."""


def test_device_count_reaches_the_trainer(features, trainers, tmp_path, monkeypatch):
    # two CPU processes would be launched by re-running this script: stop before `fit` instead
    def stop(self, *args, **kwargs):
        raise _Built

    monkeypatch.setattr(_RecordingTrainer, "fit", stop)
    cfg = CnnTrainConfig(accelerator="cpu", devices=2, strategy="ddp", **QUICK)
    with pytest.raises(_Built):
        train_cnn(features, cfg, tmp_path)
    (trainer,) = trainers
    assert trainer.num_devices == 2
    assert isinstance(trainer.strategy, DDPStrategy)


def test_unknown_settings_are_rejected_by_lightning_not_ignored(features, tmp_path):
    with pytest.raises((ValueError, pl_lightning.utilities.exceptions.MisconfigurationException)):
        train_cnn(features, CnnTrainConfig(strategy="no-such-strategy", **QUICK), tmp_path)
    with pytest.raises(ValidationError):
        CnnTrainConfig(devices=1.5)  # type: ignore[arg-type]
