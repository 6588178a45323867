"""The CNN's validation curves (loss, AUC per epoch) on the CSI 300 sample and the simulated
market, for several seeds and rules: is "best epoch 0" the network or the early-stopping rule?

Usage: .venv/bin/python bench/cnn_curves.py [--seeds 0,1,2] [--epochs 30] [--sim-only]

For each data set it trains the CNN on the paper protocol's training period with a fixed number
of epochs (no early stop, so the whole curve is seen), validating on the whole time-ordered tail,
and prints per epoch: train loss, val loss, val AUC. Then what the fast profile's rule (min
val/loss, patience 5) and alternatives would have kept.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import polars as pl

from cnnlstm.flows.params import Protocol
from cnnlstm.flows.stages.training import training_months
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.data.sources.sim import SimConfig, simulate_market
from cnnlstm.tasks.features import CnnFeatureConfig, build_cnn_features
from cnnlstm.tasks.training.networks import CnnTrainConfig, train_cnn

CSI = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cn-qlib-csi300-sample"


def stopped_at(curve: list[float], patience: int, min_delta: float = 0.0) -> tuple[int, int]:
    """(kept epoch, epochs run) of min-mode early stopping on `curve`."""
    best, best_i, wait = float("inf"), 0, 0
    for i, v in enumerate(curve):
        if v < best - min_delta:
            best, best_i, wait = v, i, 0
        else:
            wait += 1
            if wait >= patience:
                return best_i, i + 1
    return best_i, len(curve)


def curves(name: str, bars: pl.DataFrame, protocol: Protocol, seeds, epochs: int, **cfg) -> None:
    feats = training_months(build_cnn_features(bars, CnnFeatureConfig()), protocol.train)
    print(f"== {name}: {feats.height:,} feature rows, {feats['month'].n_unique()} months {cfg}")
    for seed in seeds:
        config = CnnTrainConfig(
            profile="paper",
            epochs=epochs,
            seed=seed,
            progress_bar=False,
            threads=1,
            val_max_samples=None,
            **cfg,
        )
        with tempfile.TemporaryDirectory() as tmp:
            model = train_cnn(feats, config, tmp)
        h = model.history
        vl = [r["val/loss"] for r in h]
        auc = [r["val/auc"] for r in h]
        print(
            f"-- seed {seed}: train {model.metrics['train_samples']:.0f}, "
            f"val {model.metrics['val_samples']:.0f} rows"
        )
        for r in h:
            print(
                f"   epoch {int(r['epoch']):2d} train/loss {r['train/loss']:.4f} "
                f"val/loss {r['val/loss']:.4f} val/auc {r['val/auc']:.4f}"
            )
        best_auc = max(range(len(auc)), key=auc.__getitem__)
        rules = {
            "min val/loss, patience 5": stopped_at(vl, 5),
            "min val/loss, patience 10": stopped_at(vl, 10),
            "max val/auc, patience 5": stopped_at([-a for a in auc], 5),
            "max val/auc, patience 10": stopped_at([-a for a in auc], 10),
        }
        for rule, (kept, ran) in rules.items():
            print(f"   rule {rule}: keeps epoch {kept} (val/auc {auc[kept]:.4f}), runs {ran}")
        print(f"   best val/auc over {epochs} epochs: epoch {best_auc} ({auc[best_auc]:.4f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--sim-only", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"load {os.getloadavg()[0]:.2f}")
    if CSI.is_dir() and not args.sim_only:
        bars = load_source(f"qlib:{CSI}").bars
        curves("CSI 300 sample (qlib)", bars, Protocol.paper(), seeds, args.epochs)
    sim = SimConfig()
    market = simulate_market(sim)
    protocol = Protocol.fitted_to(sim.start, sim.end)
    curves(f"sim market ({sim.n_stocks} stocks)", market.bars, protocol, seeds, args.epochs)


if __name__ == "__main__":
    main()
