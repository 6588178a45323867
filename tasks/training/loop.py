"""The Lightning fit and the batched inference shared by both networks' training tasks.

Input contract: a `models.modules.Classifier`, a `models.data.TensorDataModule`, a training
configuration from `tasks.training.config` (what shapes the fit: profile, epochs, patience, seed;
and how it runs: accelerator, devices, strategy, precision, progress bar) and the thread count
and profiler the caller chose (`cnnlstm.infra.runtime` at the edges; without one, torch's current
count). Writes only the best checkpoint under `out_dir` (and the logger's files when a logger is
given). Nothing here changes the process: no allocator, no global thread count left behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping, ModelCheckpoint

from cnnlstm.models.data import TensorDataModule, chunk_steps
from cnnlstm.models.modules import Classifier
from cnnlstm.tasks.training.progress import ProgressLog
from cnnlstm.tasks.training.trained import TrainedModel

_PREDICT_BATCH = 65_536


class EpochHistory(Callback):
    """Collects the epoch-level metrics Lightning computed, one dict per epoch.

    `val/` metrics appear only in the rows of epochs that validated (with `val_every` > 1 the
    trainer's metrics still hold the last validation's values in the epochs between).
    """

    def __init__(self):
        self.rows: list[dict[str, float]] = []
        self._validated = False

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Mark this epoch as validated."""
        self._validated = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Record this epoch's train/ and val/ metrics (validation runs before this hook)."""
        row = {"epoch": float(trainer.current_epoch)}
        prefixes = ("train/", "val/") if self._validated else ("train/",)
        for name, value in trainer.callback_metrics.items():
            if name.startswith(prefixes):
                row[name] = float(value)
        self.rows.append(row)
        self._validated = False


@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run a block with `n` torch intra-op threads (None: as they are); restore them after."""
    before = torch.get_num_threads()
    n = before if n is None else n
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextmanager
def _no_uninitialized_fill() -> Iterator[None]:
    """Deterministic algorithms without NaN-filling every new tensor (restored after).

    `deterministic=True` turns on `torch.use_deterministic_algorithms`, which by default also
    fills each uninitialised tensor with NaN, a debugging aid that changes no result (the
    values are overwritten) but cost the CPU LSTM ~8% (paired CPU-time rounds at load 12-15:
    0.92x with the fill, 1.03x without, vs non-deterministic; bench/bench_training.py).
    """
    import torch.utils.deterministic as det

    before = det.fill_uninitialized_memory
    det.fill_uninitialized_memory = False
    try:
        yield
    finally:
        det.fill_uninitialized_memory = before


def seed_all(seed: int) -> None:
    """Seed Python, numpy and torch before a network is built, so its initialisation repeats."""
    pl.seed_everything(seed, workers=False, verbose=False)


def resolve_precision(precision: str, accelerator: str) -> str:
    """'auto' -> 'bf16-mixed' on a CUDA GPU that supports bf16, else '32-true'."""
    if precision != "auto":
        return precision
    cuda = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    if cuda and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def fit_classifier(
    module: Classifier,
    data: TensorDataModule,
    cfg,
    kind: str,
    out_dir: Path,
    *,
    threads: int | None = None,
    profiler: str | None = None,
    logger=None,
) -> TrainedModel:
    """Fit `module` on `data` as `cfg` says; keep the best checkpoint by val/loss.

    Without a validation set the checkpoint (and early stopping) follow train/loss. `threads`
    is the torch intra-op thread count chosen by the caller (else `cfg.threads`, else torch's
    current count), recorded as `torch_threads`; `profiler` a Lightning profiler's name.
    """
    seed_all(cfg.seed)  # again: dropout and batch order start from the seed too
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True  # tf32 matmuls/convs where fp32 remains
        torch.backends.cudnn.allow_tf32 = True
    out_dir.mkdir(parents=True, exist_ok=True)
    monitor = "val/loss" if data.has_validation else "train/loss"
    checkpoint, history, callbacks = _callbacks(cfg, kind, out_dir, monitor)
    threads = threads if threads is not None else cfg.threads
    val_every = int(getattr(cfg, "val_every", 1))
    # Lightning batches an epoch: chunks on one device (fewer than the mini-batches; under data
    # parallelism there are more, and logging every <= 50 of them stays within an epoch)
    batches = -(-int(data.x_train.shape[0]) // (cfg.batch_size * chunk_steps(cfg.batch_size)))
    trainer = pl.Trainer(
        max_epochs=cfg.max_epochs(kind),
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        precision=resolve_precision(cfg.precision, cfg.accelerator),
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        enable_progress_bar=cfg.show_progress(),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if data.has_validation else 0,
        check_val_every_n_epoch=val_every,
        log_every_n_steps=max(1, min(50, batches)),
        deterministic=True if not torch.cuda.is_available() else "warn",
        default_root_dir=out_dir,
        profiler=profiler,  # None: Lightning's default, which records nothing
    )
    started = time.perf_counter()
    with torch_threads(threads) as used, _no_uninitialized_fill():
        trainer.fit(module, datamodule=data)
    seconds = time.perf_counter() - started
    best = min(history.rows, key=lambda r: r.get(monitor, float("inf")))
    n_train = int(data.x_train.shape[0])
    metrics = {k: v for k, v in best.items()}
    metrics.update(
        best_epoch=best["epoch"],
        epochs_run=float(len(history.rows)),
        train_samples=float(n_train),
        val_samples=float(data.x_val.shape[0]) if data.has_validation else 0.0,
        fit_seconds=seconds,
        train_samples_per_s=n_train * len(history.rows) / max(seconds, 1e-9),
        torch_threads=float(used),
        val_every=float(val_every),
        steps_per_batch=float(data.steps_per_batch),
    )
    return TrainedModel(
        checkpoint=Path(checkpoint.best_model_path), metrics=metrics, history=history.rows
    )


def _callbacks(
    cfg, kind: str, out_dir: Path, monitor: str
) -> tuple[ModelCheckpoint, EpochHistory, list[Callback]]:
    """The best checkpoint by `monitor`, the epoch history, progress lines, early stopping."""
    checkpoint = ModelCheckpoint(
        dirpath=out_dir,
        filename=f"{kind}-best",
        monitor=monitor,
        mode="min",
        save_top_k=1,
        save_weights_only=True,
        enable_version_counter=False,
        auto_insert_metric_name=False,
    )
    history = EpochHistory()
    callbacks: list[Callback] = [checkpoint, history]
    callbacks.append(ProgressLog(kind, enabled=not cfg.show_progress()))  # no bar: log lines
    if cfg.profile == "fast":
        callbacks.append(EarlyStopping(monitor=monitor, mode="min", patience=cfg.patience))
    return checkpoint, history, callbacks


def load_classifier(checkpoint: Path) -> Classifier:
    """The trained module in a checkpoint, in eval mode on the CPU."""
    module = Classifier.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True)
    module.eval()
    return module


def predict_probabilities(
    checkpoint: Path, x: torch.Tensor, *, threads: int | None = None
) -> np.ndarray:
    """P(class 1) for every row of `x` (batched, no gradient), as float64 numpy.

    `threads`: torch intra-op threads for the inference (None: torch's current count).
    """
    module = load_classifier(checkpoint)
    out = np.empty(x.shape[0], dtype=np.float64)
    with torch.inference_mode(), torch_threads(threads):
        for start in range(0, x.shape[0], _PREDICT_BATCH):
            batch = x[start : start + _PREDICT_BATCH]
            out[start : start + batch.shape[0]] = module.predict_step(batch, 0).double().numpy()
    return out
