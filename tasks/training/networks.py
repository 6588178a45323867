"""Training and inference of the CNN ranker and the LSTM timer.

Input contracts: `train_cnn` and `score_cnn` take the `cnn_features` table (`schemas/features.py`);
`train_lstm` and `predict_lstm` take `LstmWindows` (`tasks/features/lstm.py`). The caller passes
only what the model may learn from: the training period's months (whose labels are complete
before the test starts) or windows whose 5-day label horizon ends before it.

Validation is the time-ordered tail of what is given, never a shuffle across time: the last
`val_fraction` of the months (CNN) or of the decision days (LSTM; the `purge_days` decision days
before the tail are left out of training, as their labels look into it). The best checkpoint by
`val/loss` is kept. Profiles: `paper` trains the paper's fixed number of epochs (Table 1: 500 CNN,
100 LSTM); `fast` stops early when `val/loss` has not improved for `patience` epochs.

Validation costs little: a fixed, seeded sample of at most `val_max_samples` tail samples (the
same every epoch, so epochs are compared on the same rows), every `val_every` epochs. The LSTM's
training data is pooled windows of every stock (`describe_lstm_training`). Torch's intra-op
threads are the caller's: `threads=` (chosen by `cnnlstm.infra.runtime` at the edges), else the
config's `threads`, else torch's current count; the count used is in the metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.features.cnn import X_COLUMNS
from cnnlstm.tasks.features.lstm import LstmWindows
from cnnlstm.tasks.training.config import (
    CnnTrainConfig,
    FitSettings,
    LstmTrainConfig,
)
from cnnlstm.tasks.training.trained import TrainedModel, describe_lstm_training

if TYPE_CHECKING:
    import torch

# torch, Lightning and the networks are imported inside the functions that train or predict: the
# configs and types here are all a flow needs to import, and a cached run never trains (importing
# torch + Lightning costs ~6 s of CPU, most of a cached run's start-up).


def validation_subset(n: int, cfg: FitSettings) -> np.ndarray:
    """Sorted indices of the validation samples used: all `n`, or `val_max_samples` at random.

    The subset is drawn once (seeded by `cfg.seed`) and reused every epoch, so epochs are compared
    on the same samples and early stopping judges differences, not sampling noise.
    """
    if cfg.val_max_samples is None or n <= cfg.val_max_samples:
        return np.arange(n)
    rng = np.random.default_rng([cfg.seed, 1])
    return np.sort(rng.choice(n, cfg.val_max_samples, replace=False))


def _cnn_tensors(features: pl.DataFrame) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(N, 1, 32) float32 inputs and, when labelled, (N,) int64 labels of a features frame."""
    import torch

    missing = [c for c in (*X_COLUMNS, "symbol", "month") if c not in features.columns]
    if missing:
        raise UserInputError(f"cnn features lack columns {missing}")
    x = features.select(X_COLUMNS).to_numpy().astype(np.float32)  # (N, 32)
    if not np.isfinite(x).all():
        raise UserInputError("cnn features hold null or non-finite x_* values")
    x_t = torch.from_numpy(x).unsqueeze(1)  # (N, 1, 32)
    if "label" not in features.columns or features["label"].null_count():
        return x_t, None
    return x_t, torch.from_numpy(features["label"].to_numpy().astype(np.int64))


def train_cnn(
    features: pl.DataFrame,
    cfg: CnnTrainConfig,
    out_dir: Path | str,
    *,
    threads: int | None = None,
    profiler: str | None = None,
    logger=None,
) -> TrainedModel:
    """Train the CNN ranker on the labelled rows of `features`; validate on its last months.

    Args:
        features: the `cnn_features` table of the training period (rows without a label are
            ignored, and counted in the returned metrics).
        cfg: the training configuration.
        out_dir: where the best checkpoint (`cnn-best.ckpt`) is written.
        threads: torch intra-op threads (None: the config's, else torch's current count).
        profiler: a Lightning profiler's name (simple, advanced, pytorch); None: none.
        logger: a Lightning logger (e.g. `MLFlowLogger`); None writes no log files.

    Returns:
        The trained model.
    """
    import torch

    from cnnlstm.models.cnn import CnnShape
    from cnnlstm.models.data import TensorDataModule
    from cnnlstm.models.modules import Classifier
    from cnnlstm.tasks.training.loop import fit_classifier, seed_all

    if "label" not in features.columns:
        raise UserInputError("train_cnn needs the `label` column of the cnn_features table")
    labelled = features.filter(pl.col("label").is_not_null()).sort("month", "symbol")
    months = labelled["month"].unique().sort()
    if months.len() < 2:
        raise UserInputError(
            f"train_cnn needs labelled rows in at least 2 months; got {months.len()}"
        )
    n_val = int(round(months.len() * cfg.val_fraction))
    n_val = min(max(n_val, 1), months.len() - 1) if cfg.val_fraction > 0 else 0
    first_val = months[months.len() - n_val] if n_val else None
    is_val = (labelled["month"] >= first_val) if n_val else pl.Series([False] * labelled.height)
    x_tr, y_tr = _cnn_tensors(labelled.filter(~is_val))
    x_va, y_va = _cnn_tensors(labelled.filter(is_val)) if n_val else (None, None)
    val_available = int(x_va.shape[0]) if n_val else 0
    if n_val:
        keep = torch.from_numpy(validation_subset(val_available, cfg))
        x_va, y_va = x_va[keep], y_va[keep]
    shape = CnnShape(
        n_inputs=len(X_COLUMNS), channels=cfg.channels, hidden=cfg.hidden, dropout=cfg.dropout
    )
    seed_all(cfg.seed)
    module = Classifier.for_network(
        "cnn", shape, lr=cfg.lr, weight_decay=cfg.weight_decay, init=cfg.init
    )
    data = TensorDataModule(x_tr, y_tr, x_va, y_va, batch_size=cfg.batch_size, seed=cfg.seed)
    trained = fit_classifier(
        module, data, cfg, "cnn", Path(out_dir), threads=threads, profiler=profiler, logger=logger
    )
    trained.metrics.update(
        unlabelled_rows_ignored=float(features.height - labelled.height),
        train_months=float(months.len() - n_val),
        val_months=float(n_val),
        val_available=float(val_available),
    )
    return trained


def score_cnn(
    checkpoint: Path | str, features: pl.DataFrame, *, threads: int | None = None
) -> pl.DataFrame:
    """Score every row of a `cnn_features` table: P(class 1) of the trained CNN.

    `threads`: torch intra-op threads (None: torch's current count).

    Returns:
        pl.DataFrame(symbol, month, score) row-aligned with `features`.
    """
    from cnnlstm.tasks.training.loop import predict_probabilities

    x, _ = _cnn_tensors(features)
    prob = predict_probabilities(Path(checkpoint), x, threads=threads)
    return features.select("symbol", "month").with_columns(score=pl.Series(prob, dtype=pl.Float64))


def _split_days(dates: pl.Series, cfg: LstmTrainConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """(is_train, is_val, validation days) of each window, split by its decision day.

    The last `val_fraction` of the days validate; the `purge_days` before them train nothing
    (their labels reach into the validation days).
    """
    days = dates.unique().sort()
    if days.len() < 2:
        raise UserInputError(f"train_lstm needs windows on at least 2 days; got {days.len()}")
    d = dates.to_numpy()
    if cfg.val_fraction <= 0:
        return np.ones(len(d), dtype=bool), np.zeros(len(d), dtype=bool), 0
    n_val = min(max(int(round(days.len() * cfg.val_fraction)), 1), days.len() - 1)
    first_val = days[days.len() - n_val]
    purge_from = days[max(days.len() - n_val - cfg.purge_days, 0)]
    return d < np.datetime64(purge_from), d >= np.datetime64(first_val), n_val


def _train_sample(train_idx: np.ndarray, cfg: LstmTrainConfig) -> np.ndarray:
    """The training windows, at most `max_windows` of them drawn with the run's seed."""
    if cfg.max_windows is not None and len(train_idx) > cfg.max_windows:
        rng = np.random.default_rng(cfg.seed)
        train_idx = np.sort(rng.choice(train_idx, cfg.max_windows, replace=False))
    if len(train_idx) == 0:
        raise UserInputError("no training windows remain before the validation tail")
    return train_idx


def train_lstm(
    windows: LstmWindows,
    cfg: LstmTrainConfig,
    out_dir: Path | str,
    *,
    threads: int | None = None,
    profiler: str | None = None,
    logger=None,
) -> TrainedModel:
    """Train the LSTM timer on labelled windows; validate on the last decision days.

    Args:
        windows: labelled windows (`build_lstm_windows(..., with_labels=True)`) whose label
            horizon ends before the test period.
        cfg: the training configuration.
        out_dir: where the best checkpoint (`lstm-best.ckpt`) is written.
        threads: torch intra-op threads (None: the config's, else torch's current count).
        profiler: a Lightning profiler's name (simple, advanced, pytorch); None: none.
        logger: a Lightning logger (e.g. `MLFlowLogger`); None writes no log files.

    Returns:
        The trained model.
    """
    import torch

    from cnnlstm.models.data import TensorDataModule
    from cnnlstm.models.lstm import LstmShape
    from cnnlstm.models.modules import Classifier
    from cnnlstm.tasks.training.loop import fit_classifier, seed_all

    if windows.y is None:
        raise UserInputError("train_lstm needs labelled windows (build them with_labels=True)")
    is_train, is_val, n_val = _split_days(windows.keys["date"], cfg)
    train_available = int(is_train.sum())
    train_idx = _train_sample(np.flatnonzero(is_train), cfg)
    x = torch.from_numpy(windows.x)  # (N, T, 6)
    y = torch.from_numpy(windows.y)
    val_all = np.flatnonzero(is_val)
    val_idx = torch.from_numpy(val_all[validation_subset(len(val_all), cfg)])
    t_idx = torch.from_numpy(train_idx)
    shape = LstmShape(
        n_features=windows.x.shape[2], hidden=cfg.hidden, dense=cfg.dense, dropout=cfg.dropout
    )
    seed_all(cfg.seed)
    module = Classifier.for_network(
        "lstm", shape, lr=cfg.lr, weight_decay=cfg.weight_decay, init=cfg.init
    )
    data = TensorDataModule(
        x[t_idx],
        y[t_idx],
        x[val_idx] if n_val else None,
        y[val_idx] if n_val else None,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
    )
    trained = fit_classifier(
        module, data, cfg, "lstm", Path(out_dir), threads=threads, profiler=profiler, logger=logger
    )
    trained.metrics.update(
        purged_windows=float(len(is_val) - int(is_val.sum()) - int(is_train.sum())),
        val_days=float(n_val),
        val_available=float(len(val_all)),
        train_available=float(train_available),
    )
    return trained


def predict_lstm(
    checkpoint: Path | str, windows: LstmWindows, *, threads: int | None = None
) -> pl.DataFrame:
    """Timing signals of the trained LSTM for each window (`threads`: as `score_cnn`).

    Returns:
        pl.DataFrame(symbol, date, signal Int8 (+1 when P(up) > 0.5, else -1), prob_up).
    """
    import torch

    from cnnlstm.tasks.training.loop import predict_probabilities

    prob = predict_probabilities(Path(checkpoint), torch.from_numpy(windows.x), threads=threads)
    prob_s = pl.Series(prob, dtype=pl.Float64)
    return windows.keys.select("symbol", "date").with_columns(
        signal=pl.when(prob_s > 0.5).then(1).otherwise(-1).cast(pl.Int8),
        prob_up=prob_s,
    )


__all__ = [
    "CnnTrainConfig",
    "describe_lstm_training",
    "LstmTrainConfig",
    "TrainedModel",
    "predict_lstm",
    "score_cnn",
    "train_cnn",
    "train_lstm",
]
