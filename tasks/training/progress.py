"""Progress of a training where no progress bar is shown (a worker, CI, nohup, a log file).

`ProgressLog` is a Lightning callback: when the bar is off it logs one line to the `cnnlstm`
logger at most every `every_s` seconds (default 30), at epoch ends and inside long epochs:

    lstm: epoch 3/20 (batch 120/400), train loss 0.6912, val loss 0.6931, val AUC 0.512,
    1m 24s elapsed, ETA ~6m

The ETA assumes the remaining epochs take as long as the finished ones (early stopping may end
sooner). With a progress bar on (a terminal) it stays silent: the bar already says this.
"""

from __future__ import annotations

import logging
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

logger = logging.getLogger("cnnlstm.progress")


def summary(metrics: dict[str, float]) -> str:
    """Training metrics as one readable line: 4 significant digits, epochs and counts as ints.

    `{"val/loss": 0.69314718, "best_epoch": 3.0, "fit_seconds": 12.3456}` ->
    `val/loss 0.6931, best_epoch 3, fit_seconds 12.35`.
    """
    parts = []
    for key, value in metrics.items():
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
            parts.append(f"{key} {int(value)}")
        elif isinstance(value, float):
            parts.append(f"{key} {value:.4g}")
        else:
            parts.append(f"{key} {value}")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


class ProgressLog(Callback):
    """Log a training's epoch, loss, validation AUC and ETA every `every_s` seconds."""

    def __init__(self, kind: str, *, every_s: float = 30.0, enabled: bool = True) -> None:
        self.kind = kind
        self.every_s = every_s
        self.enabled = enabled
        self._started = 0.0
        self._last = 0.0
        if logger.level == logging.NOTSET:  # a worker's root logger drops INFO: keep these
            logger.setLevel(logging.INFO)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Start the clocks."""
        self._started = self._last = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """Inside a long epoch: a line when `every_s` has passed."""
        if self._due():
            self._emit(trainer, batch=batch_idx + 1)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """At an epoch's end: a line when `every_s` has passed."""
        if self._due():
            self._emit(trainer, done_epochs=trainer.current_epoch + 1)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Always one last line: where the training stopped (early stopping included)."""
        if self.enabled:
            self._emit(trainer, done_epochs=trainer.current_epoch, final=True)

    def _due(self) -> bool:
        return self.enabled and time.monotonic() - self._last >= self.every_s

    def line(
        self,
        trainer: pl.Trainer,
        *,
        batch: int | None = None,
        done_epochs: int | None = None,
        final: bool = False,
    ) -> str:
        """The progress line for the trainer's current state."""
        epoch = done_epochs if final and done_epochs else trainer.current_epoch + 1
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        parts = [f"epoch {epoch}/{total}" if total else f"epoch {epoch}"]
        n_batches = trainer.num_training_batches
        if batch is not None and isinstance(n_batches, int) and n_batches > 0:
            # a loader of chunks (models.data.StepChunks) counts its mini-batches, not its chunks
            loader = trainer.train_dataloader
            per, total = getattr(loader, "steps", 1), getattr(loader, "minibatches", n_batches)
            parts[0] += f" (batch {min(batch * per, total)}/{total})"
        metrics = trainer.callback_metrics
        for key, label, digits in (
            ("train/loss", "train loss", 4),
            ("val/loss", "val loss", 4),
            ("val/auc", "val AUC", 3),
        ):
            if key in metrics:
                parts.append(f"{label} {float(metrics[key]):.{digits}f}")
        elapsed = time.monotonic() - self._started
        parts.append(f"{_duration(elapsed)} elapsed")
        finished = done_epochs if done_epochs is not None else trainer.current_epoch
        if final:
            return f"{self.kind}: done after " + ", ".join(parts)
        if total and finished:
            parts.append(f"ETA ~{_duration(elapsed / finished * (total - finished))}")
        return f"{self.kind}: " + ", ".join(parts)

    def _emit(self, trainer: pl.Trainer, **where) -> None:
        self._last = time.monotonic()
        logger.info(self.line(trainer, **where))
