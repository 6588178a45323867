"""The LSTM timer: one LSTM layer over a 30-day window of 6 bar fields, then a Tanh dense layer.

Input contract: a float tensor (B, T, 6) (T = 30 trading days, fields open, close, high, low,
amount, volume, each z-scored within its window; see `cnnlstm.tasks.features.lstm`); output: (B, 2)
class logits (class 1: the next 5 days' return from the execution price is positive).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LstmShape:
    """Layer sizes of the LSTM timer.

    Attributes:
        n_features: fields per day (6).
        hidden: LSTM hidden size.
        dense: width of the Tanh dense layer.
        dropout: dropout probability before the output layer.
    """

    n_features: int = 6
    hidden: int = 32
    dense: int = 16
    dropout: float = 0.2


class LstmTimer(nn.Module):
    """One LSTM layer; its last hidden state through a Tanh dense layer to 2-class logits."""

    def __init__(self, shape: LstmShape = LstmShape()):
        super().__init__()
        self.shape = shape
        self.lstm = nn.LSTM(shape.n_features, shape.hidden, num_layers=1, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(shape.hidden, shape.dense),
            nn.Tanh(),
            nn.Dropout(shape.dropout),
            nn.Linear(shape.dense, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 2) of windows (B, T, n_features)."""
        assert x.dim() == 3 and x.shape[2] == self.shape.n_features, (
            f"expected (B, T, {self.shape.n_features}), got {tuple(x.shape)}"
        )
        _, (h_n, _) = self.lstm(x)  # h_n: (1, B, hidden)
        return self.head(h_n[-1])  # (B, 2)
