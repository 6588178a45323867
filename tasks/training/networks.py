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
threads are chosen by `cnnlstm.tasks.training.threads` (config `threads` wins).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.features.cnn import X_COLUMNS
from cnnlstm.tasks.features.lstm import LstmWindows
from cnnlstm.tasks.training.trained import TrainedModel, describe_lstm_training

if TYPE_CHECKING:
    import torch

# torch, Lightning and the networks are imported inside the functions that train or predict: the
# configs and types here are all a flow needs to import, and a cached run never trains (importing
# torch + Lightning costs ~6 s of CPU, most of a cached run's start-up).

PAPER_EPOCHS = {"cnn": 500, "lstm": 100}
FAST_MAX_EPOCHS = {"cnn": 60, "lstm": 30}


class _TrainConfig(BaseModel):
    """Settings shared by both networks.

    `RUNTIME_FIELDS` say how a training runs, not what it computes: they are not part of a
    cached training's key (`cnnlstm.infra.artifacts.canonical`), so changing the thread count,
    the progress bar, the devices or the precision reuses a cached training.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    RUNTIME_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"threads", "progress_bar", "accelerator", "devices", "strategy", "precision"}
    )

    profile: Literal["fast", "paper"] = Field(
        "fast", description="'paper': Table 1's epochs; 'fast': early stopping on val/loss"
    )
    epochs: int | None = Field(
        None, ge=1, description="epochs (paper) or the most epochs (fast); None: by profile"
    )
    batch_size: int = Field(512, ge=1, description="training mini-batch size")
    # bounded where a finite training needs it: 1e308 passed and failed inside the training
    lr: float = Field(1e-3, gt=0, le=10, description="Adam learning rate (the paper: 0.001)")
    weight_decay: float = Field(1e-4, ge=0, le=10, description="L2 penalty (Adam weight decay)")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout of the hidden layers")
    init: Literal["default", "paper"] = Field(
        "default", description="'paper': every weight ~ Normal(0, 1); 'default': PyTorch's"
    )
    seed: int = Field(0, description="seed of initialisation, batch order and dropout")
    patience: int = Field(5, ge=1, description="fast profile: epochs without improvement")
    val_fraction: float = Field(
        0.2, ge=0, lt=1, description="time-ordered tail of the training data used to validate"
    )
    val_max_samples: int | None = Field(
        10_000,
        ge=1,
        description="validate on at most this many samples of the tail: one fixed, seeded random "
        "subset for every epoch (None: the whole tail)",
    )
    val_every: int = Field(
        1, ge=1, description="validate every k epochs (patience counts validations)"
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="torch intra-op threads; None: from the cores, never the load "
        "(tasks/training/threads.py; CNNLSTM_TORCH_THREADS wins; =load follows the load)",
    )
    accelerator: str = Field("auto", description="Lightning accelerator: auto, cpu, gpu, ...")
    devices: int | str = Field("auto", description="Lightning devices")
    strategy: str = Field("auto", description="Lightning strategy (e.g. ddp)")
    precision: str = Field(
        "auto", description="'auto': bf16-mixed on a CUDA GPU that supports it, else 32-true"
    )
    progress_bar: bool | None = Field(None, description="None: shown when stderr is a terminal")

    def max_epochs(self, kind: str) -> int:
        """Epochs to run at most for network `kind`."""
        if self.epochs is not None:
            return self.epochs
        return PAPER_EPOCHS[kind] if self.profile == "paper" else FAST_MAX_EPOCHS[kind]

    def show_progress(self) -> bool:
        """Whether to show a progress bar."""
        return sys.stderr.isatty() if self.progress_bar is None else self.progress_bar


class CnnTrainConfig(_TrainConfig):
    """How the CNN ranker is trained."""

    channels: tuple[int, int] = Field((16, 32), description="channels of the two conv layers")
    hidden: tuple[int, int] = Field((64, 32), description="widths of the two hidden layers")


class LstmTrainConfig(_TrainConfig):
    """How the LSTM timer is trained."""

    hidden: int = Field(32, ge=1, description="LSTM hidden size")
    dense: int = Field(16, ge=1, description="width of the Tanh dense layer")
    purge_days: int = Field(
        5, ge=0, description="decision days before the validation tail left out of training"
    )
    max_windows: int | None = Field(
        None,
        ge=1,
        description="pooled training data: at most this many windows of all stocks, drawn at "
        "random (seeded); None: every window given",
    )


_prefetch: threading.Thread | None = None


def prefetch_imports() -> None:
    """Start importing torch and Lightning in a background thread (once per process).

    A stage that computes the networks' inputs calls it: a training will follow, and the 5 s
    of CPU these imports take on a 2-core machine (most of it Lightning's, which imports
    `torch._dynamo`) then overlap the feature stages, which spend most of their time in
    polars' native code without the GIL. Python's import locks make a later `import torch`
    in the training wait for the thread's import rather than import twice; an import error
    is left for that later import to raise.
    """
    global _prefetch
    if _prefetch is None and "pytorch_lightning" not in sys.modules:
        _prefetch = threading.Thread(target=_import_training, name="torch-import", daemon=True)
        _prefetch.start()


def _import_training() -> None:
    try:
        import pytorch_lightning  # noqa: F401
        import torch  # noqa: F401

        from cnnlstm.tasks.training import loop as train_loop  # noqa: F401
    except Exception:  # noqa: BLE001, S110 - the training's own import reports it
        pass


def validation_subset(n: int, cfg: _TrainConfig) -> np.ndarray:
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
    logger=None,
) -> TrainedModel:
    """Train the CNN ranker on the labelled rows of `features`; validate on its last months.

    Args:
        features: the `cnn_features` table of the training period (rows without a label are
            ignored, and counted in the returned metrics).
        cfg: the training configuration.
        out_dir: where the best checkpoint (`cnn-best.ckpt`) is written.
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
    trained = fit_classifier(module, data, cfg, "cnn", Path(out_dir), logger=logger)
    trained.metrics.update(
        unlabelled_rows_ignored=float(features.height - labelled.height),
        train_months=float(months.len() - n_val),
        val_months=float(n_val),
        val_available=float(val_available),
    )
    return trained


def score_cnn(checkpoint: Path | str, features: pl.DataFrame) -> pl.DataFrame:
    """Score every row of a `cnn_features` table: P(class 1) of the trained CNN.

    Returns:
        pl.DataFrame(symbol, month, score) row-aligned with `features`.
    """
    from cnnlstm.tasks.training.loop import predict_probabilities

    x, _ = _cnn_tensors(features)
    prob = predict_probabilities(Path(checkpoint), x)
    return features.select("symbol", "month").with_columns(score=pl.Series(prob, dtype=pl.Float64))


def train_lstm(
    windows: LstmWindows,
    cfg: LstmTrainConfig,
    out_dir: Path | str,
    *,
    logger=None,
) -> TrainedModel:
    """Train the LSTM timer on labelled windows; validate on the last decision days.

    Args:
        windows: labelled windows (`build_lstm_windows(..., with_labels=True)`) whose label
            horizon ends before the test period.
        cfg: the training configuration.
        out_dir: where the best checkpoint (`lstm-best.ckpt`) is written.
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
    dates = windows.keys["date"]
    days = dates.unique().sort()
    if days.len() < 2:
        raise UserInputError(f"train_lstm needs windows on at least 2 days; got {days.len()}")
    n_val = int(round(days.len() * cfg.val_fraction)) if cfg.val_fraction > 0 else 0
    n_val = min(max(n_val, 1), days.len() - 1) if cfg.val_fraction > 0 else 0
    d = dates.to_numpy()
    if n_val:
        first_val = days[days.len() - n_val]
        purge_from = days[max(days.len() - n_val - cfg.purge_days, 0)]
        is_val = d >= np.datetime64(first_val)
        is_train = d < np.datetime64(purge_from)
    else:
        is_val = np.zeros(len(d), dtype=bool)
        is_train = np.ones(len(d), dtype=bool)
    train_idx = np.flatnonzero(is_train)
    train_available = len(train_idx)
    if cfg.max_windows is not None and len(train_idx) > cfg.max_windows:
        rng = np.random.default_rng(cfg.seed)
        train_idx = np.sort(rng.choice(train_idx, cfg.max_windows, replace=False))
    if len(train_idx) == 0:
        raise UserInputError("no training windows remain before the validation tail")
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
    trained = fit_classifier(module, data, cfg, "lstm", Path(out_dir), logger=logger)
    trained.metrics.update(
        purged_windows=float(len(d) - int(is_val.sum()) - int(is_train.sum())),
        val_days=float(n_val),
        val_available=float(len(val_all)),
        train_available=float(train_available),
    )
    return trained


def predict_lstm(checkpoint: Path | str, windows: LstmWindows) -> pl.DataFrame:
    """Timing signals of the trained LSTM for each window.

    Returns:
        pl.DataFrame(symbol, date, signal Int8 (+1 when P(up) > 0.5, else -1), prob_up).
    """
    import torch

    from cnnlstm.tasks.training.loop import predict_probabilities

    prob = predict_probabilities(Path(checkpoint), torch.from_numpy(windows.x))
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
