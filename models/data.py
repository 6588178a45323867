"""Tensor-resident batching: the whole training set lives on the device; batches are index slices.

Input contract: `x` a float tensor (N, ...) and `y` an int64 tensor (N,) on any device. Nothing
here creates a Python object per sample: an epoch is one `torch.randperm` and a batch one
`index_select`, which is why training is limited by the network, not by the loader (compare the
naive per-sample `Dataset`/`DataLoader` in `bench/bench_training.py`).

Lightning hands the training step one chunk of up to `CHUNK_ROWS` rows at a time (`StepChunks`),
split into the same mini-batches `TensorBatches` draws; `Classifier.training_step` takes one
optimiser step per mini-batch. Lightning's loop costs about 1 ms of Python per batch it hands
over (its data fetch, hooks, progress and result bookkeeping: ~2,100 Python calls a batch,
against ~530 for the step itself), a tenth of a CNN step on a CPU; a chunk (32 mini-batches of
512 rows) pays it once (bench/bench_training.py, "path"). 16,384 rows rather than 4,096: 437
instead of 503 more Python calls per step than a bare loop. Only on a single device: under data
parallelism each mini-batch must be one forward of the wrapped model (DDP syncs per forward).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import SingleDeviceStrategy

CHUNK_ROWS = 16384  # rows handed to one training step on a single device (>= 1 mini-batch)


def chunk_steps(batch_size: int) -> int:
    """Mini-batches of `batch_size` rows in one chunk on a single device (at least 1)."""
    return max(1, CHUNK_ROWS // batch_size)


class TensorBatches:
    """An iterable of (x, y) mini-batches drawn by index from tensors held on one device.

    Each pass is an epoch. With `shuffle`, epoch k uses the permutation of a generator seeded
    with `seed + k`, so the order is reproducible. Under data parallelism each of `world_size`
    processes takes every `world_size`-th sample of that permutation (the same number each).
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        assert x.shape[0] == y.shape[0], f"x has {x.shape[0]} rows, y {y.shape[0]}"
        assert batch_size > 0, "batch_size must be positive"
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle, self.seed = shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def next_epoch_order(self) -> torch.Tensor:
        """The row order of the next epoch (its mini-batches are consecutive `batch_size` runs)."""
        order = self._indices()
        self.epoch += 1
        return order

    def _indices(self) -> torch.Tensor:
        n = self.x.shape[0]
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=gen)
        else:
            order = torch.arange(n)
        per_rank = n // self.world_size if self.world_size > 1 else n
        order = order[self.rank :: self.world_size][:per_rank]
        return order.to(self.x.device)

    def __len__(self) -> int:
        n = self.x.shape[0] // self.world_size if self.world_size > 1 else self.x.shape[0]
        return -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.next_epoch_order()
        for start in range(0, order.shape[0], self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self.x.index_select(0, idx), self.y.index_select(0, idx)


class StepChunks:
    """An epoch of `batches`' mini-batches, handed over `steps` at a time.

    Each item is a list of up to `steps` `(x, y)` mini-batches: the same rows, in the same order,
    as iterating `batches` gives (one `index_select` per chunk, then views of `batch_size` rows).
    """

    def __init__(self, batches: TensorBatches, steps: int):
        assert steps >= 1, "steps must be >= 1"
        self.batches, self.steps = batches, steps

    @property
    def minibatches(self) -> int:
        """Mini-batches (optimiser steps) in an epoch."""
        return len(self.batches)

    def __len__(self) -> int:
        return -(-len(self.batches) // self.steps)

    def __iter__(self) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
        b = self.batches
        order = b.next_epoch_order()
        rows = b.batch_size * self.steps
        for start in range(0, order.shape[0], rows):
            idx = order[start : start + rows]
            xs = b.x.index_select(0, idx).split(b.batch_size)
            ys = b.y.index_select(0, idx).split(b.batch_size)
            yield list(zip(xs, ys, strict=True))


class TensorDataModule(pl.LightningDataModule):
    """Training and validation tensors moved once to the trainer's device, batched by index."""

    def __init__(
        self,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        x_val: torch.Tensor | None = None,
        y_val: torch.Tensor | None = None,
        *,
        batch_size: int = 512,
        val_batch_size: int = 8192,
        seed: int = 0,
    ):
        super().__init__()
        self.x_train, self.y_train = x_train, y_train
        self.x_val, self.y_val = x_val, y_val
        self.batch_size, self.val_batch_size, self.seed = batch_size, val_batch_size, seed
        self._train: TensorBatches | None = None
        self.steps_per_batch = 1

    @property
    def has_validation(self) -> bool:
        """Whether a validation set was given."""
        return self.x_val is not None and self.x_val.shape[0] > 0

    def setup(self, stage: str) -> None:
        """Move the tensors to the trainer's device (once; idempotent)."""
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        rank = trainer.global_rank if trainer is not None else 0
        world = trainer.world_size if trainer is not None else 1
        self.x_train, self.y_train = self.x_train.to(device), self.y_train.to(device)
        if self.has_validation:
            self.x_val, self.y_val = self.x_val.to(device), self.y_val.to(device)
        single = trainer is None or (
            world == 1 and isinstance(trainer.strategy, SingleDeviceStrategy)
        )
        self.steps_per_batch = chunk_steps(self.batch_size) if single else 1
        if self._train is None:
            self._train = TensorBatches(
                self.x_train,
                self.y_train,
                self.batch_size,
                shuffle=True,
                seed=self.seed,
                rank=rank,
                world_size=world,
            )

    def train_dataloader(self) -> StepChunks:
        """Shuffled training mini-batches (a new, seeded permutation each epoch), in chunks."""
        assert self._train is not None, "setup() first"
        return StepChunks(self._train, self.steps_per_batch)

    def val_dataloader(self) -> TensorBatches | list:
        """Validation batches in order (an empty list when there is no validation set)."""
        if not self.has_validation:
            return []
        return TensorBatches(self.x_val, self.y_val, self.val_batch_size, shuffle=False)
