"""Training throughput of both networks: Lightning vs a bare PyTorch loop vs a naive DataLoader.

Usage: .venv/bin/python bench/bench_training.py [--threads 1] [--rounds 2] [--accelerator auto]

For each network, on the same random tensors (CNN: (N, 1, 32); LSTM: (N, 30, 6)) and batch size:
* lightning: the project's path, `cnnlstm.tasks.train_loop.fit_classifier` (Trainer, tensor-resident
  `TensorDataModule`, epoch metrics, best-checkpoint callback), `profile="paper"` so every epoch
  runs; samples/s over the whole fit including Trainer start-up.
* bare: the same network, Adam and cross-entropy in a hand-written loop over the same
  `TensorBatches` (index batches of tensors on the device).
* naive: a per-sample `torch.utils.data.Dataset` over numpy arrays with a shuffling `DataLoader`
  (default collate, no workers), as many projects write it; timed over `--naive-batches` batches.
The data path alone (batches drawn, no network) is timed too: on a CPU the network's compute can
dominate both loops, which hides the per-sample loader's cost that a GPU exposes.
Rounds alternate the three methods (the machine may be shared); the best round of each counts,
and the median of each round's lightning/bare ratio is printed beside it.
Peak memory is the process's peak RSS, and on CUDA the peak allocated device memory.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from cnnlstm.models.cnn import CnnShape
from cnnlstm.models.data import TensorBatches, TensorDataModule
from cnnlstm.models.lstm import LstmShape
from cnnlstm.models.modules import Classifier
from cnnlstm.tasks.train import CnnTrainConfig, LstmTrainConfig
from cnnlstm.tasks.train_loop import fit_classifier, seed_all


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def make_module(kind: str) -> Classifier:
    shape = CnnShape() if kind == "cnn" else LstmShape()
    return Classifier.for_network(kind, shape, lr=1e-3, weight_decay=1e-4)


def lightning_rate(kind, x, y, epochs, batch, accelerator) -> float:
    cls = CnnTrainConfig if kind == "cnn" else LstmTrainConfig
    cfg = cls(
        profile="paper",
        epochs=epochs,
        batch_size=batch,
        accelerator=accelerator,
        progress_bar=False,
        val_fraction=0.0,
    )
    seed_all(0)
    data = TensorDataModule(x, y, batch_size=batch)
    with tempfile.TemporaryDirectory() as tmp:
        model = fit_classifier(make_module(kind), data, cfg, kind, Path(tmp))
    return x.shape[0] * epochs / model.metrics["fit_seconds"]


def bare_rate(kind, x, y, epochs, batch, device) -> float:
    seed_all(0)
    started = time.perf_counter()
    net = make_module(kind).net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    xd, yd = x.to(device), y.to(device)
    batches = TensorBatches(xd, yd, batch, shuffle=True, seed=0)
    for _ in range(epochs):
        for xb, yb in batches:
            loss = F.cross_entropy(net(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return x.shape[0] * epochs / (time.perf_counter() - started)


class PerSample(Dataset):
    """One (x, y) pair per `__getitem__`, converted from numpy each time."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return torch.tensor(self.x[i], dtype=torch.float32), int(self.y[i])


def naive_rate(kind, x, y, batch, n_batches, device) -> float:
    seed_all(0)
    net = make_module(kind).net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    loader = DataLoader(PerSample(x.numpy(), y.numpy()), batch_size=batch, shuffle=True)
    started = time.perf_counter()
    seen = 0
    for i, (xb, yb) in enumerate(loader):
        if i == n_batches:
            break
        xb, yb = xb.to(device), yb.to(device)
        loss = F.cross_entropy(net(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += xb.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - started)


def loader_only_rates(x, y, batch, n_batches) -> tuple[float, float]:
    """Samples/s of the data path alone: index batches vs the per-sample DataLoader."""
    started = time.perf_counter()
    seen = 0
    for i, (xb, _) in enumerate(TensorBatches(x, y, batch, shuffle=True, seed=0)):
        seen += xb.shape[0]
        if i + 1 == n_batches:
            break
    tensor_rate = seen / (time.perf_counter() - started)
    loader = DataLoader(PerSample(x.numpy(), y.numpy()), batch_size=batch, shuffle=True)
    started = time.perf_counter()
    seen = 0
    for i, (xb, _) in enumerate(loader):
        seen += xb.shape[0]
        if i + 1 == n_batches:
            break
    return tensor_rate, seen / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads on CPU")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--cnn-n", type=int, default=40_000)
    ap.add_argument("--lstm-n", type=int, default=15_000)
    ap.add_argument("--naive-batches", type=int, default=30)
    ap.add_argument("--accelerator", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available() and args.accelerator in ("auto", "gpu", "cuda")
    device = torch.device("cuda" if cuda else "cpu")
    print(
        f"device {device} ({torch.cuda.get_device_name() if cuda else 'CPU'}), "
        f"torch threads {torch.get_num_threads()}, batch {args.batch}, epochs {args.epochs}"
    )
    gen = torch.Generator().manual_seed(0)
    for kind, n, shape in (("cnn", args.cnn_n, (1, 32)), ("lstm", args.lstm_n, (30, 6))):
        x = torch.randn((n, *shape), generator=gen)
        y = torch.randint(0, 2, (n,), generator=gen)
        best = {"lightning": 0.0, "bare": 0.0, "naive": 0.0}
        paired: dict[str, list[float]] = {"bare": [], "naive": []}
        for _ in range(args.rounds):
            rate = {
                "lightning": lightning_rate(kind, x, y, args.epochs, args.batch, args.accelerator),
                "bare": bare_rate(kind, x, y, args.epochs, args.batch, device),
                "naive": naive_rate(kind, x, y, args.batch, args.naive_batches, device),
            }
            for k, v in rate.items():
                best[k] = max(best[k], v)
            for k in paired:
                paired[k].append(rate["lightning"] / rate[k])
        fast_data, naive_data = loader_only_rates(x, y, args.batch, args.naive_batches)
        rates = ", ".join(f"{k} {v:,.0f}/s" for k, v in best.items())
        print(f"{kind.upper()} (N={n:,}): samples/s {rates}")
        print(
            f"RATIO {kind.upper()}: lightning/bare {best['lightning'] / best['bare']:.2f}x best, "
            f"{np.median(paired['bare']):.2f}x median of paired rounds "
            f"{[round(r, 2) for r in paired['bare']]}; lightning/naive "
            f"{best['lightning'] / best['naive']:.1f}x; data path alone: index batches "
            f"{fast_data:,.0f}/s vs per-sample loader {naive_data:,.0f}/s "
            f"({fast_data / naive_data:.0f}x)"
        )
    extra = f", CUDA peak {torch.cuda.max_memory_allocated() / 1024**3:.2f} GiB" if cuda else ""
    print(f"peak RSS {peak_rss_gb():.2f} GiB{extra}")


if __name__ == "__main__":
    main()
