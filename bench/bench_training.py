"""Training speed, side by side: project path vs bare loop, 1 vs 2 threads, validation cost.

Usage: .venv/bin/python bench/bench_training.py [--rounds 5] [--epochs 3] [--compile]
       [--batches 512,1024,2048] [--full-universe] [--skip path,threads,validation,heap,batches]

Sections (each a set of paired rounds: the variants alternate within one process, the order
flips every round, the load average is printed per round, the median of the per-round ratios
counts; a shared machine is noisy, a ratio taken within one round is not fooled by a slow minute).
Rates at 1 thread are by this process's CPU time (`--clock wall` for wall time): on a loaded
machine wall time mostly measures the scheduler; the threads section is by wall time.
* path: `cnnlstm.tasks.training.loop.fit_classifier` (Lightning Trainer, tensor-resident batches
  handed over in chunks of mini-batches (`models/data.py`),
  epoch metrics, best-checkpoint callback, `profile="paper"` so every epoch runs, no validation)
  vs a bare PyTorch loop (same network, Adam, cross-entropy, the same `TensorBatches`) at the same
  batch, data and thread count. Goal >= 0.95x. The cProfile summary of one project fit follows:
  what the project path spends outside the network's forward/backward and Adam. Both sides run
  with the heap kept (`cnnlstm.infra.runtime.keep_freed_heap`, as every command does), so the ratio
  compares loops.
* threads: the bare loop at 1 and at 2 torch intra-op threads, and what `choose_threads()` picks.
* validation: `train_lstm` on synthetic windows shaped like the default run (20k sampled training
  windows, a time-ordered validation tail of 1.7x that), validating the whole tail every epoch
  (before: `val_max_samples=None`) vs the default fixed 10k sample.
* heap: the bare loop in child processes with glibc's default allocator (`CNNLSTM_KEEP_HEAP=0`)
  vs the freed heap kept, as trainings run (pairs of processes, order flipped each round).
* batches (and `--compile`): the bare loop's samples/s at other batch sizes, and under
  `torch.compile`.
* `--full-universe`: runs bench/bench_full_universe.py (the paper protocol, fast profile, on a
  simulated 3,000-stock market) in a subprocess and prints its summary lines here.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F

from cnnlstm.infra.runtime import KEEP_ENV, choose_threads, keep_freed_heap
from cnnlstm.models.cnn import CnnShape
from cnnlstm.models.data import TensorBatches, TensorDataModule
from cnnlstm.models.lstm import LstmShape
from cnnlstm.models.modules import Classifier
from cnnlstm.tasks.features.lstm import LstmWindows
from cnnlstm.tasks.training.loop import fit_classifier, seed_all, torch_threads
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig, train_lstm

SHAPES = {"cnn": (1, 32), "lstm": (30, 6)}


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def make_module(kind: str) -> Classifier:
    shape = CnnShape() if kind == "cnn" else LstmShape()
    return Classifier.for_network(kind, shape, lr=1e-3, weight_decay=1e-4)


def data(kind: str, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((n, *SHAPES[kind]), generator=gen), torch.randint(0, 2, (n,), generator=gen)


CLOCK = "auto"


def clock(threads: int, *, wall: bool = False):
    """CPU time of this process for 1-thread runs (robust to other processes' load: a
    descheduled minute costs no CPU time); wall time where threads are compared (`wall`)."""
    if wall or threads != 1 or CLOCK == "wall":
        return time.perf_counter
    return time.process_time


def project_rate(kind, x, y, epochs, batch, threads) -> float:
    """Samples/s of the project's whole fit_classifier call (Trainer set-up, checkpoints too)."""
    cls = CnnTrainConfig if kind == "cnn" else LstmTrainConfig
    cfg = cls(
        profile="paper",
        epochs=epochs,
        batch_size=batch,
        progress_bar=False,
        val_fraction=0.0,
        threads=threads,
    )
    seed_all(0)
    module = make_module(kind)
    tick = clock(threads)
    with tempfile.TemporaryDirectory() as tmp:
        started = tick()
        fit_classifier(module, TensorDataModule(x, y, batch_size=batch), cfg, kind, Path(tmp))
        seconds = tick() - started
    return x.shape[0] * epochs / seconds


def bare_rate(
    kind, x, y, epochs, batch, threads, *, compiled: bool = False, wall: bool = False
) -> float:
    """Samples/s of a hand-written loop: same network, Adam, loss and index batches."""
    seed_all(0)
    net = make_module(kind).net.train()
    step_net = torch.compile(net) if compiled else net
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    tick = clock(threads, wall=wall)
    with torch_threads(threads):
        if compiled:  # compilation is not training: one warm-up step outside the clock
            loss = F.cross_entropy(step_net(x[:batch]), y[:batch])
            loss.backward()
            opt.zero_grad(set_to_none=True)
        started = tick()
        batches = TensorBatches(x, y, batch, shuffle=True, seed=0)
        for _ in range(epochs):
            for xb, yb in batches:
                loss = F.cross_entropy(step_net(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        seconds = tick() - started
    return x.shape[0] * epochs / seconds


def paired(name: str, a, b, rounds: int) -> tuple[float, float, float]:
    """Run a() and b() alternately (order flipped each round); median a/b and median rates."""
    ratios, ra, rb = [], [], []
    for r in range(rounds):
        if r % 2 == 0:
            va, vb = a(), b()
        else:
            vb, va = b(), a()
        ratios.append(va / vb)
        ra.append(va)
        rb.append(vb)
        print(f"  {name} round {r}: {va:,.0f} vs {vb:,.0f} samples/s = {va / vb:.3f}x ({load()})")
    return float(np.median(ratios)), float(np.median(ra)), float(np.median(rb))


def profile_project(kind, x, y, epochs, batch) -> str:
    """Top entries by own time of one project fit: where the time outside the network goes."""
    prof = cProfile.Profile()
    prof.enable()
    project_rate(kind, x, y, epochs, batch, 1)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    total = stats.total_tt
    stats.sort_stats("tottime").print_stats(8)
    network = 0.0
    for (file, _, func), row in stats.stats.items():
        own = row[2]
        if func in ("{method 'run_backward' of 'torch._C._EngineBase' objects}",) or (
            file == "~" and ("torch." in func or "torch._C" in func)
        ):
            network += own
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()][-9:]
    head = (
        f"  profile {kind.upper()} project fit: {total:.2f} s in Python's view, of which torch "
        f"kernels (forward, backward, Adam's ops, batching) {network:.2f} s = "
        f"{network / total:.0%}; the rest is Python: Lightning's loop/hooks, our step "
        "bookkeeping, Adam's Python"
    )
    return "\n".join([head, *("    " + ln for ln in lines)])


def synthetic_windows(n_train_days: int, per_day: int, seed: int = 0) -> LstmWindows:
    """Windows on consecutive days (keys sorted by date), random inputs, random labels."""
    gen = torch.Generator().manual_seed(seed)
    n = n_train_days * per_day
    x = torch.randn((n, 30, 6), generator=gen).numpy()
    y = torch.randint(0, 2, (n,), generator=gen).numpy().astype(np.int64)
    day0 = date(2010, 1, 4)
    dates = [day0 + timedelta(days=i // per_day) for i in range(n)]
    keys = pl.DataFrame(
        {
            "symbol": [f"S{i % per_day:04d}" for i in range(n)],
            "date": pl.Series(dates, dtype=pl.Date),
            "fwd_return": np.zeros(n),
        }
    )
    return LstmWindows(x=x, y=y, keys=keys)


def validation_seconds(windows, epochs, val_max_samples, threads) -> tuple[float, float]:
    """(seconds of the train_lstm call, validation samples) with the given validation sample."""
    cfg = LstmTrainConfig(
        profile="paper",
        epochs=epochs,
        max_windows=20_000,
        progress_bar=False,
        threads=threads,
        val_max_samples=val_max_samples,
    )
    tick = clock(threads)
    with tempfile.TemporaryDirectory() as tmp:
        started = tick()
        model = train_lstm(windows, cfg, tmp)
        seconds = tick() - started
    return seconds, model.metrics["val_samples"]


def heap_child(args: argparse.Namespace) -> None:
    """(In a child process) the bare loop's samples/s of both networks, as JSON on stdout."""
    state = keep_freed_heap()
    rates = {}
    for kind, n in (("cnn", args.cnn_n), ("lstm", args.lstm_n)):
        x, y = data(kind, n)
        bare_rate(kind, x[:2048], y[:2048], 1, args.batch, 1)  # warm-up
        rates[kind] = bare_rate(kind, x, y, args.epochs, args.batch, 1)
    print(json.dumps({"state": state, **rates}))


def heap_rates(kept: bool, args: argparse.Namespace) -> dict:
    """The child's rates with the freed heap kept (`kept`) or glibc's default allocator."""
    env = {k: v for k, v in os.environ.items() if k != KEEP_ENV}
    if not kept:
        env[KEEP_ENV] = "0"
    sizes = ["--epochs", str(args.epochs), "--batch", str(args.batch)]
    sizes += ["--cnn-n", str(args.cnn_n), "--lstm-n", str(args.lstm_n)]
    argv = [sys.executable, __file__, "--heap-child", *sizes]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--cnn-n", type=int, default=40_000)
    ap.add_argument("--lstm-n", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=1, help="threads of the path section")
    ap.add_argument("--batches", default="512,2048,8192")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--full-universe", action="store_true")
    ap.add_argument("--skip", default="", help="comma list of sections to skip")
    ap.add_argument("--heap-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--clock", default="auto", choices=["auto", "wall"], help="auto: CPU time at 1 thread"
    )
    args = ap.parse_args()
    global CLOCK
    CLOCK = args.clock
    if args.heap_child:
        heap_child(args)
        return
    heap = keep_freed_heap()  # as fit_classifier does: both sides of "path" run on the same heap
    skip = set(filter(None, args.skip.split(",")))
    chosen = choose_threads()
    print(
        f"bench_training: {os.cpu_count()} CPUs, affinity {len(os.sched_getaffinity(0))}, "
        f"{load()}, torch {torch.__version__}, choose_threads() -> {chosen.threads} "
        f"({chosen.reason}); batch {args.batch}, epochs {args.epochs}, rounds {args.rounds}; "
        f"1-thread rates by {'CPU' if args.clock == 'auto' else 'wall'} time, threads by wall; "
        f"heap {heap}"
    )
    summary: list[str] = []
    sets = {k: data(k, n) for k, n in (("cnn", args.cnn_n), ("lstm", args.lstm_n))}

    if "path" not in skip:
        for kind, (x, y) in sets.items():
            print(f"[path] {kind.upper()} N={x.shape[0]:,}, {args.threads} thread(s)")
            project_rate(kind, x[:2048], y[:2048], 1, args.batch, args.threads)  # warm-up
            ratio, rp, rb = paired(
                "project/bare",
                partial(project_rate, kind, x, y, args.epochs, args.batch, args.threads),
                partial(bare_rate, kind, x, y, args.epochs, args.batch, args.threads),
                args.rounds,
            )
            summary.append(
                f"PATH {kind.upper()}: project {rp:,.0f}/s vs bare {rb:,.0f}/s = {ratio:.3f}x "
                "(median of paired rounds; goal >= 0.95x)"
            )
            print(profile_project(kind, x, y, args.epochs, args.batch))

    if "threads" not in skip:
        for kind, (x, y) in sets.items():
            print(f"[threads] {kind.upper()} bare loop, 2 vs 1 threads")
            ratio, r2, r1 = paired(
                "2/1 threads",
                partial(bare_rate, kind, x, y, 1, args.batch, 2, wall=True),
                partial(bare_rate, kind, x, y, 1, args.batch, 1, wall=True),
                args.rounds,
            )
            summary.append(
                f"THREADS {kind.upper()}: 2 threads {r2:,.0f}/s vs 1 thread {r1:,.0f}/s = "
                f"{ratio:.2f}x ({load()}; choose_threads() now -> {choose_threads().threads})"
            )

    if "validation" not in skip:
        # 20k sampled training windows of ~94k; the tail of 20% of the days holds 1.7x that
        windows = synthetic_windows(n_train_days=400, per_day=425)
        print(f"[validation] train_lstm, 20k training windows, {len(windows):,} windows in all")
        before, after = [], []
        for r in range(max(2, args.rounds // 2)):
            order = (None, 10_000) if r % 2 == 0 else (10_000, None)
            for cap in order:
                secs, n_val = validation_seconds(windows, args.epochs, cap, args.threads)
                (before if cap is None else after).append((secs, n_val))
                print(f"  val_max_samples={cap}: {n_val:,.0f} val samples, {secs:.2f} s ({load()})")
        b, a = np.median([s for s, _ in before]), np.median([s for s, _ in after])
        summary.append(
            f"VALIDATION LSTM: whole tail ({before[0][1]:,.0f}/epoch) {b:.2f} s vs 10k sample "
            f"{a:.2f} s per {args.epochs}-epoch fit = {a / b:.2f}x the time"
        )

    if "heap" not in skip:
        print("[heap] bare loop in child processes: default allocator vs freed heap kept")
        ratios: dict[str, list[float]] = {"cnn": [], "lstm": []}
        for r in range(max(2, args.rounds // 2)):
            order = (True, False) if r % 2 == 0 else (False, True)
            got = {kept: heap_rates(kept, args) for kept in order}
            for kind in ratios:
                ratios[kind].append(got[True][kind] / got[False][kind])
            print(
                f"  round {r}: kept ({got[True]['state']}) cnn {got[True]['cnn']:,.0f} lstm "
                f"{got[True]['lstm']:,.0f} vs default cnn {got[False]['cnn']:,.0f} lstm "
                f"{got[False]['lstm']:,.0f} samples/s ({load()})"
            )
        for kind, values in ratios.items():
            summary.append(
                f"HEAP {kind.upper()}: freed heap kept vs glibc default = "
                f"{np.median(values):.2f}x (median of {len(values)} process pairs, bare loop)"
            )

    if "batches" not in skip:
        for kind, (x, y) in sets.items():
            base = args.batch
            for batch in [int(b) for b in args.batches.split(",") if int(b) != base]:
                ratio, rb, r0 = paired(
                    f"batch {batch}/{base}",
                    partial(bare_rate, kind, x, y, 1, batch, args.threads),
                    partial(bare_rate, kind, x, y, 1, base, args.threads),
                    max(2, args.rounds // 2),
                )
                summary.append(
                    f"BATCH {kind.upper()}: {batch} {rb:,.0f}/s vs {base} {r0:,.0f}/s "
                    f"= {ratio:.2f}x"
                )
            if args.compile:
                try:
                    ratio, rc, r0 = paired(
                        "compiled/eager",
                        partial(bare_rate, kind, x, y, 1, base, args.threads, compiled=True),
                        partial(bare_rate, kind, x, y, 1, base, args.threads),
                        2,
                    )
                    summary.append(
                        f"COMPILE {kind.upper()}: {rc:,.0f}/s vs eager {r0:,.0f}/s = {ratio:.2f}x"
                    )
                except Exception as err:  # noqa: BLE001 - report what compile says
                    summary.append(f"COMPILE {kind.upper()}: failed: {type(err).__name__}: {err}")

    if args.full_universe:
        bench = Path(__file__).with_name("bench_full_universe.py")
        done = subprocess.run(
            [sys.executable, str(bench)], capture_output=True, text=True, check=False
        )
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith(("FULL", "STAGE"))]
        summary.extend(
            lines or [f"FULL UNIVERSE: failed (rc {done.returncode}): {done.stderr[-500:]}"]
        )

    print(f"\n== summary ({load()}, peak RSS {peak_rss_gb():.2f} GiB) ==")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
