"""Validation that costs little and still finds the best epoch.

Training never depends on what is validated (the batch order has its own seeded generator; the
validation forward pass draws no random numbers), so a run validating on a sample and one
validating on the whole tail follow the same weights epoch by epoch. That lets the tests compare
the epoch each keeps on the whole tail's curve: the sample's choice must cost (almost) nothing
there, on planted-signal data whose validation loss first falls and then rises (overfitting).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
import torch

from cnnlstm.tasks.features.cnn import X_COLUMNS
from cnnlstm.tasks.training.networks import CnnTrainConfig, train_cnn, validation_subset

QUIET = {"progress_bar": False, "threads": 1}


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _planted(n_months: int = 20, n_stocks: int = 300, seed: int = 0) -> pl.DataFrame:
    """CNN features whose label is a noisy function of two inputs (an overfittable signal)."""
    rng = np.random.default_rng(seed)
    rows = n_months * n_stocks
    x = rng.standard_normal((rows, len(X_COLUMNS)))
    signal = 0.8 * x[:, 0] - 0.6 * x[:, 5] + 0.5 * x[:, 0] * x[:, 5]
    label = (signal + 1.3 * rng.standard_normal(rows) > 0).astype(np.int8)
    months = [date(2010 + m // 12, m % 12 + 1, 1) for m in range(n_months)]
    return pl.DataFrame(
        {
            "symbol": [f"S{i % n_stocks:03d}" for i in range(rows)],
            "month": [months[i // n_stocks] for i in range(rows)],
            **{c: x[:, j] for j, c in enumerate(X_COLUMNS)},
            "label": pl.Series(label, dtype=pl.Int8),
        }
    )


def _val_curve(model) -> dict[int, float]:
    return {int(r["epoch"]): r["val/loss"] for r in model.history if "val/loss" in r}


def test_the_subset_is_fixed_seeded_and_capped():
    cfg = CnnTrainConfig(val_max_samples=100, seed=3)
    a, b = validation_subset(1000, cfg), validation_subset(1000, cfg)
    assert len(a) == 100 and np.array_equal(a, b) and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, validation_subset(1000, cfg.model_copy(update={"seed": 4})))
    assert np.array_equal(validation_subset(80, cfg), np.arange(80))
    assert len(validation_subset(10**6, CnnTrainConfig(val_max_samples=None))) == 10**6


@pytest.fixture(scope="module")
def planted() -> pl.DataFrame:
    return _planted()


@pytest.fixture(scope="module")
def full_run(planted, tmp_path_factory):
    """Fixed epochs (no early stop), validating on the whole tail every epoch: the reference."""
    cfg = CnnTrainConfig(
        profile="paper",
        epochs=14,
        batch_size=128,
        lr=3e-3,
        weight_decay=0.0,
        dropout=0.0,
        val_max_samples=None,
        **QUIET,
    )
    return cfg, train_cnn(planted, cfg, tmp_path_factory.mktemp("full"))


def test_the_reference_curve_falls_then_rises(full_run):
    _, model = full_run
    curve = _val_curve(model)
    best = min(curve, key=curve.get)
    assert 0 < best < max(curve), f"planted case should overfit after a while: {curve}"
    assert curve[max(curve)] > curve[best] + 0.01


def test_a_validation_sample_keeps_an_epoch_as_good_on_the_whole_tail(planted, full_run, tmp_path):
    cfg, full = full_run
    curve = _val_curve(full)
    sampled = train_cnn(planted, cfg.model_copy(update={"val_max_samples": 400}), tmp_path)
    assert sampled.metrics["val_samples"] == 400
    assert sampled.metrics["val_available"] == full.metrics["val_samples"] > 400
    # the same weights each epoch: train losses agree to the last digit
    assert [r["train/loss"] for r in sampled.history] == [r["train/loss"] for r in full.history]
    kept = int(sampled.metrics["best_epoch"])
    assert curve[kept] - min(curve.values()) < 0.01, (kept, curve)


def test_validating_every_k_epochs_keeps_a_good_epoch_and_records_only_real_checks(
    planted, full_run, tmp_path
):
    cfg, full = full_run
    curve = _val_curve(full)
    model = train_cnn(planted, cfg.model_copy(update={"val_every": 2}), tmp_path)
    validated = sorted(_val_curve(model))
    assert validated == list(range(1, 14, 2))  # after the 2nd, 4th, ... epoch
    assert model.metrics["val_every"] == 2
    for epoch in validated:  # the same weights, the same tail: the same numbers
        assert _val_curve(model)[epoch] == pytest.approx(curve[epoch], rel=1e-6)
    assert curve[int(model.metrics["best_epoch"])] - min(curve.values()) < 0.02


def test_early_stopping_on_a_sample_stops_near_the_reference_best(planted, full_run, tmp_path):
    cfg, full = full_run
    curve = _val_curve(full)
    fast = cfg.model_copy(update={"profile": "fast", "val_max_samples": 400, "patience": 3})
    model = train_cnn(planted, fast, tmp_path)
    assert model.metrics["epochs_run"] < 14  # it stopped
    assert curve[int(model.metrics["best_epoch"])] - min(curve.values()) < 0.01
    assert model.metrics["torch_threads"] == 1


def test_training_is_deterministic_without_nan_filling_new_tensors(tmp_path):
    """Lightning's deterministic mode stays on; only its NaN fill of new tensors is off."""
    import pytorch_lightning as pl_lightning
    import torch.utils.deterministic as det

    from cnnlstm.tasks.training import loop as train_loop

    seen = {}

    class Probe(pl_lightning.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen["fill"] = det.fill_uninitialized_memory
            seen["deterministic"] = torch.are_deterministic_algorithms_enabled()

    before = det.fill_uninitialized_memory
    original = train_loop.EpochHistory

    class WithProbe(original):
        def __init__(self):
            super().__init__()
            self.probe = Probe()

        def on_train_batch_start(self, *args):
            self.probe.on_train_batch_start(*args)

    train_loop.EpochHistory = WithProbe
    try:
        train_cnn(_planted(n_months=4, n_stocks=40), CnnTrainConfig(epochs=1, **QUIET), tmp_path)
    finally:
        train_loop.EpochHistory = original
    assert seen == {"fill": False, "deterministic": True}
    assert det.fill_uninitialized_memory == before
