"""The CNN stock ranker: a 1-D convolutional network over the 32 monthly/daily return features.

Input contract: a float tensor (B, 1, 32) of z-scored features (`tasks.features.cnn.X_COLUMNS` in
order); output: (B, 2) class logits (class 1: the month's return beats the median).

Shape (Table 1 of the paper): two convolutional layers (ReLU), a max-pooling layer, two fully
connected hidden layers (Tanh) with dropout, and the 2-class output layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class CnnShape:
    """Layer sizes of the CNN ranker.

    Attributes:
        n_inputs: length of the input vector (32).
        channels: output channels of the two convolutional layers.
        kernel_size: kernel size of both (odd; padded to keep the length).
        hidden: widths of the two fully connected hidden layers.
        dropout: dropout probability after each hidden layer.
    """

    n_inputs: int = 32
    channels: tuple[int, int] = (16, 32)
    kernel_size: int = 3
    hidden: tuple[int, int] = (64, 32)
    dropout: float = 0.2


class CnnRanker(nn.Module):
    """Two conv layers, pooling, two Tanh hidden layers with dropout, 2-class logits."""

    def __init__(self, shape: CnnShape = CnnShape()):
        super().__init__()
        assert shape.kernel_size % 2 == 1, "kernel_size must be odd to keep the length"
        pad = shape.kernel_size // 2
        c1, c2 = shape.channels
        h1, h2 = shape.hidden
        self.shape = shape
        self.features = nn.Sequential(
            nn.Conv1d(1, c1, shape.kernel_size, padding=pad),  # (B, c1, L)
            nn.ReLU(),
            nn.Conv1d(c1, c2, shape.kernel_size, padding=pad),  # (B, c2, L)
            nn.ReLU(),
            nn.MaxPool1d(2),  # (B, c2, L // 2)
            nn.Flatten(),  # (B, c2 * (L // 2))
        )
        self.head = nn.Sequential(
            nn.Linear(c2 * (shape.n_inputs // 2), h1),
            nn.Tanh(),
            nn.Dropout(shape.dropout),
            nn.Linear(h1, h2),
            nn.Tanh(),
            nn.Dropout(shape.dropout),
            nn.Linear(h2, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 2) of inputs (B, 1, n_inputs)."""
        assert x.dim() == 3 and x.shape[1] == 1, f"expected (B, 1, L), got {tuple(x.shape)}"
        return self.head(self.features(x))
