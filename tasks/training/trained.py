"""What a training produced and what it was trained on, without importing torch.

`TrainedModel` is the result of a fit (`cnnlstm.tasks.training.loop.fit_classifier`); it lives here
so that the flows can import the training stages' types without torch and Lightning (a cached
run then never imports them). `describe_lstm_training` reads the metrics dict
`tasks.training.networks.train_lstm` returns (also stored in the `TrainedRef` of the training stage
and in the report's per-seed `training` block).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainedModel:
    """A trained network: its best checkpoint, the metrics of that epoch, the per-epoch history."""

    checkpoint: Path
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


def describe_lstm_training(metrics: dict[str, float]) -> str:
    """One sentence on what the LSTM was trained on, from `train_lstm`'s metrics.

    The training data is a documented choice (issue 10 item 7): pooled windows of every stock in
    the training period (the window builder samples at most `max_windows_per_month` a month;
    `LstmTrainConfig.max_windows` then caps the pool at random, seeded). Training on the selected
    stocks' own histories is not offered: which stocks the CNN selects is known only month by
    month in the test period, so a single training on their histories would look ahead.
    """
    used, available = metrics.get("train_samples"), metrics.get("train_available")
    val, val_available = metrics.get("val_samples"), metrics.get("val_available")
    if used is None:
        return "LSTM training data: not recorded."
    pool = f"{used:,.0f} windows" + (
        f" drawn at random of {available:,.0f} labelled" if available and available > used else ""
    )
    checked = ""
    if val:
        checked = f"; validated on {val:,.0f}" + (
            f" of {val_available:,.0f} tail windows"
            if val_available and val_available > val
            else ""
        )
    epochs = metrics.get("epochs_run")
    ran = f"; {epochs:.0f} epochs" if epochs else ""
    return f"LSTM training data: pooled windows of every stock, {pool}{checked}{ran}."


__all__ = ["TrainedModel", "describe_lstm_training"]
