"""LightningModules that train the CNN ranker and the LSTM timer as 2-class classifiers.

Input contract: batches `(x, y)` with `x` shaped for the wrapped network ((B, 1, 32) for the CNN,
(B, 30, 6) for the LSTM) and `y` int64 class labels (B,); a training batch may also be a list of
such mini-batches (`models.data.StepChunks`). One `model_step` serves training, validation and
prediction; metrics are logged per epoch as `train/loss`, `train/acc`, `val/loss`, `val/acc` and
`val/auc`. Adam with L2 regularisation through `weight_decay`.

The training step steps the optimiser itself (Lightning's manual optimisation), once per
mini-batch, through Lightning's optimiser wrapper and `manual_backward`: the precision plugin
(mixed-precision autocast and scaling), the strategy and the step counter (`global_step`, which
checkpoints and loggers follow) see every step. Per mini-batch it is what Lightning's automatic
optimisation does (forward, zero the gradients, backward, step); a test trains to the very
weights a textbook PyTorch loop trains. What it saves is Lightning's per-batch loop, paid once
per chunk.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import BinaryAUROC

from cnnlstm.models.cnn import CnnRanker, CnnShape
from cnnlstm.models.lstm import LstmShape, LstmTimer

NetKind = Literal["cnn", "lstm"]
Init = Literal["default", "paper"]


def build_network(kind: NetKind, shape: dict) -> nn.Module:
    """The plain network of `kind` with the layer sizes in `shape` (a dataclass as a dict)."""
    if kind == "cnn":
        return CnnRanker(
            CnnShape(**{k: tuple(v) if isinstance(v, list) else v for k, v in shape.items()})
        )
    if kind == "lstm":
        return LstmTimer(LstmShape(**shape))
    raise ValueError(f"unknown network kind {kind!r}")


def paper_init_(net: nn.Module) -> None:
    """Draw every weight and bias from Normal(0, 1), as Table 1 of the paper states."""
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 1.0)


class Classifier(pl.LightningModule):
    """A 2-class network trained with cross-entropy; P(class 1) is its score."""

    def __init__(
        self,
        kind: NetKind,
        shape: dict,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        init: Init = "default",
    ):
        super().__init__()
        self.save_hyperparameters()
        self.net = build_network(kind, shape)
        if init == "paper":
            paper_init_(self.net)
        self.val_auc = BinaryAUROC()
        self.automatic_optimization = False  # training_step steps once per mini-batch

    @classmethod
    def for_network(cls, kind: NetKind, shape, **kwargs) -> Classifier:
        """Build from a shape dataclass (`CnnShape` or `LstmShape`)."""
        return cls(kind=kind, shape=asdict(shape), **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 2)."""
        return self.net(x)

    def model_step(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Loss, logits (B, 2) and labels of a batch."""
        x, y = batch
        logits = self(x).float()  # (B, 2); float32 under mixed precision too
        return F.cross_entropy(logits, y), logits, y

    def on_train_epoch_start(self) -> None:
        """Reset the epoch's running sums (loss x n, correct, n)."""
        self._train_sums = torch.zeros(3, device=self.device)

    def training_step(self, batch, batch_idx: int) -> None:
        """One optimisation step per mini-batch of `batch` (one `(x, y)` or a list of them).

        The epoch means of loss and accuracy are logged at the epoch's last batch: the sums are
        kept on the device, since a `self.log` per step costs Lightning's bookkeeping on every
        batch, which is measurable next to a small network.
        """
        minibatches = [batch] if isinstance(batch[0], torch.Tensor) else batch
        optimizer = self.optimizers()
        for minibatch in minibatches:
            loss, logits, y = self.model_step(minibatch)
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            with torch.no_grad():
                n = torch.tensor(float(y.shape[0]), device=loss.device)
                correct = (logits.argmax(dim=1) == y).sum().float()
                self._train_sums.add_(torch.stack([loss.detach() * n, correct, n]))
        if batch_idx + 1 == self.trainer.num_training_batches:
            total = self._train_sums
            self.log(
                "train/loss",
                total[0] / total[2],
                prog_bar=True,
                sync_dist=True,
                on_step=False,
                on_epoch=True,
                batch_size=1,
            )
            self.log(
                "train/acc",
                total[1] / total[2],
                sync_dist=True,
                on_step=False,
                on_epoch=True,
                batch_size=1,
            )

    def validation_step(self, batch, batch_idx: int) -> None:
        """Validation loss, accuracy and AUC (accumulated over the epoch)."""
        loss, logits, y = self.model_step(batch)
        acc = (logits.argmax(dim=1) == y).float().mean()
        n = y.shape[0]
        self.val_auc.update(logits.softmax(dim=1)[:, 1], y)
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val/acc", acc, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val/auc", self.val_auc, on_epoch=True, batch_size=n)

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        """P(class 1) of each sample."""
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return self(x).float().softmax(dim=1)[:, 1]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam; `weight_decay` is the L2 penalty."""
        return torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )


def network_config(module: Classifier) -> dict:
    """The typed configuration that rebuilds `module`'s network: kind, shape and training args.

    Plain JSON values only, so a stored model is its weights plus this dict, never a pickled
    class (it does not depend on the module path the class had when it was saved).
    """
    hp = dict(module.hparams)
    shape = {k: list(v) if isinstance(v, tuple) else v for k, v in dict(hp["shape"]).items()}
    return {
        "kind": hp["kind"],
        "shape": shape,
        "lr": float(hp.get("lr", 1e-3)),
        "weight_decay": float(hp.get("weight_decay", 0.0)),
        "init": hp.get("init", "default"),
    }


def classifier_from_state(config: dict, state: dict[str, torch.Tensor]) -> Classifier:
    """Rebuild a trained `Classifier` from `network_config(...)` and its `state_dict()`."""
    module = Classifier(**{**config, "init": "default"})
    module.load_state_dict(state, strict=True)
    return module.eval()
