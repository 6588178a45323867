"""How a network is trained, in three parts: its shape, its fit and how the fit runs.

* what shapes the network (`CnnNetwork`, `LstmNetwork`: layer sizes, dropout, initialisation)
  and what shapes the fit (`FitSettings`, `LstmFitSettings`: epochs, batch, optimiser, seed,
  validation): both decide the trained weights, so both are part of a cached training's key;
* how the fit runs (`TrainRuntime`: threads, accelerator, devices, strategy, precision,
  progress bar): not part of the key (`RUNTIME_FIELDS`, left out by
  `cnnlstm.infra.artifacts.canonical`), so changing the thread count, the devices or the
  progress bar reuses a cached training. A different thread count or device may change the
  last float digits of the weights; the training records the count it used.

`CnnTrainConfig` and `LstmTrainConfig` compose the three parts into one flat section (the
`cnn:`/`lstm:` sections of a run's parameters, `--set cnn.epochs=3`); `network()`, `fit()` and
`runtime()` hand out each part on its own.
"""

from __future__ import annotations

import sys
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

PAPER_EPOCHS = {"cnn": 500, "lstm": 100}
FAST_MAX_EPOCHS = {"cnn": 60, "lstm": 30}

_FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class TrainRuntime(BaseModel):
    """How a training runs, not what it computes (not part of a cached training's key)."""

    model_config = _FROZEN

    threads: int | None = Field(
        None,
        ge=1,
        description="torch intra-op threads; None: the cores (never the load; "
        "CNNLSTM_TORCH_THREADS wins, =load follows the load)",
    )
    accelerator: str = Field("auto", description="Lightning accelerator: auto, cpu, gpu, ...")
    devices: int | str = Field("auto", description="Lightning devices")
    strategy: str = Field("auto", description="Lightning strategy (e.g. ddp)")
    precision: str = Field(
        "auto", description="'auto': bf16-mixed on a CUDA GPU that supports it, else 32-true"
    )
    progress_bar: bool | None = Field(None, description="None: shown when stderr is a terminal")

    def show_progress(self) -> bool:
        """Whether to show a progress bar."""
        return sys.stderr.isatty() if self.progress_bar is None else self.progress_bar


class FitSettings(BaseModel):
    """What shapes a fit of either network (part of a cached training's key)."""

    model_config = _FROZEN

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

    def max_epochs(self, kind: str) -> int:
        """Epochs to run at most for network `kind`."""
        if self.epochs is not None:
            return self.epochs
        return PAPER_EPOCHS[kind] if self.profile == "paper" else FAST_MAX_EPOCHS[kind]


class LstmFitSettings(FitSettings):
    """What shapes the LSTM's fit: the shared settings and its training data's cut."""

    purge_days: int = Field(
        5, ge=0, description="decision days before the validation tail left out of training"
    )
    max_windows: int | None = Field(
        None,
        ge=1,
        description="pooled training data: at most this many windows of all stocks, drawn at "
        "random (seeded); None: every window given",
    )


class _NetworkBase(BaseModel):
    model_config = _FROZEN

    dropout: float = Field(0.2, ge=0, lt=1, description="dropout of the hidden layers")
    init: Literal["default", "paper"] = Field(
        "default", description="'paper': every weight ~ Normal(0, 1); 'default': PyTorch's"
    )


class CnnNetwork(_NetworkBase):
    """What shapes the CNN ranker."""

    channels: tuple[int, int] = Field((16, 32), description="channels of the two conv layers")
    hidden: tuple[int, int] = Field((64, 32), description="widths of the two hidden layers")


class LstmNetwork(_NetworkBase):
    """What shapes the LSTM timer."""

    hidden: int = Field(32, ge=1, description="LSTM hidden size")
    dense: int = Field(16, ge=1, description="width of the Tanh dense layer")


class _Parts:
    """`network()`, `fit()` and `runtime()` of a composed training section."""

    NETWORK: ClassVar[type[BaseModel]]
    FIT: ClassVar[type[BaseModel]]
    #: How it runs, not what it computes: left out of a cached training's key.
    RUNTIME_FIELDS: ClassVar[frozenset[str]] = frozenset(TrainRuntime.model_fields)

    def _part(self, part: type[BaseModel]):
        return part.model_validate({name: getattr(self, name) for name in part.model_fields})

    def network(self):
        """What shapes the network."""
        return self._part(self.NETWORK)

    def fit(self):
        """What shapes the fit."""
        return self._part(self.FIT)

    def runtime(self) -> TrainRuntime:
        """How the fit runs."""
        return self._part(TrainRuntime)


class CnnTrainConfig(_Parts, TrainRuntime, CnnNetwork, FitSettings):
    """How the CNN ranker is trained: its shape, its fit and how the fit runs (one section)."""

    NETWORK: ClassVar[type[BaseModel]] = CnnNetwork
    FIT: ClassVar[type[BaseModel]] = FitSettings


class LstmTrainConfig(_Parts, TrainRuntime, LstmNetwork, LstmFitSettings):
    """How the LSTM timer is trained: its shape, its fit and how the fit runs (one section)."""

    NETWORK: ClassVar[type[BaseModel]] = LstmNetwork
    FIT: ClassVar[type[BaseModel]] = LstmFitSettings


TrainConfig = CnnTrainConfig | LstmTrainConfig

__all__ = [
    "CnnNetwork",
    "CnnTrainConfig",
    "FAST_MAX_EPOCHS",
    "FitSettings",
    "LstmFitSettings",
    "LstmNetwork",
    "LstmTrainConfig",
    "PAPER_EPOCHS",
    "TrainConfig",
    "TrainRuntime",
]
