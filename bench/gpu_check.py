"""GPU check: training samples/s of both networks on CUDA, and the paper profile at full size.

Usage: .venv/bin/python bench/gpu_check.py [--batches 1024,4096,16384,65536] [--steps 50]
       [--skip-protocol] [--stocks 5000]

Refuses (exit code 3, one line saying why) where no CUDA device is available: nothing here
falls back to the CPU, so a figure it prints is always a GPU figure.

1. Throughput: for the CNN (B, 1, 32) and the LSTM (B, 30, 6) at each batch size, in fp32 (tf32
   matmuls allowed, as the project's fit sets) and bf16 autocast: a full training step (forward,
   cross-entropy, backward, Adam) on data resident on the device (one index batch per step, as
   `models.data.TensorBatches` draws them), `--warmup` steps excluded (cuDNN plans, allocator),
   then `--steps` steps timed with CUDA events. Prints samples/s and peak device memory.
   Target on an H200-class GPU: >= 2M LSTM training samples/s.
2. Protocol: `bench_full_universe.run_protocol` with the `paper` profile (500 CNN / 100 LSTM
   epochs) on a simulated 5,000-stock universe over 2010-2017, on the GPU: per-stage seconds,
   wall time, peak RSS.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NO_GPU_EXIT = 3


def refuse_without_cuda() -> None:
    """Exit with NO_GPU_EXIT and a one-line reason when torch sees no CUDA device."""
    import torch

    if not torch.cuda.is_available():
        print(
            f"gpu_check: refused: no CUDA device (torch {torch.__version__}, built with CUDA "
            f"{torch.version.cuda}); nothing was measured",
            file=sys.stderr,
        )
        sys.exit(NO_GPU_EXIT)


def step_rate(kind: str, batch: int, dtype: str, steps: int, warmup: int) -> tuple[float, float]:
    """(training samples/s, peak device GiB) of `steps` timed steps after `warmup` steps."""
    import torch
    import torch.nn.functional as F

    from cnnlstm.models.cnn import CnnShape
    from cnnlstm.models.lstm import LstmShape
    from cnnlstm.models.modules import Classifier

    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    shape = CnnShape() if kind == "cnn" else LstmShape()
    net = Classifier.for_network(kind, shape).net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    dims = (1, 32) if kind == "cnn" else (30, 6)
    n = max(4 * batch, 262_144)  # resident data, several batches' worth
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn((n, *dims), device=device, generator=gen)
    y = torch.randint(0, 2, (n,), device=device, generator=gen)
    order = torch.randperm(n, device=device, generator=gen)

    def one(i: int) -> None:
        start = (i * batch) % (n - batch + 1)
        idx = order[start : start + batch]
        xb, yb = x.index_select(0, idx), y.index_select(0, idx)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            logits = net(xb)
        loss = F.cross_entropy(logits.float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(warmup):
        one(i)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    for i in range(steps):
        one(warmup + i)
    end.record()
    torch.cuda.synchronize()
    seconds = begin.elapsed_time(end) / 1000.0
    return batch * steps / seconds, torch.cuda.max_memory_allocated() / 1024**3


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1024,4096,16384,65536")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--skip-protocol", action="store_true")
    args = ap.parse_args()
    refuse_without_cuda()
    import torch

    print(f"gpu_check: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    best_lstm = 0.0
    for kind in ("cnn", "lstm"):
        for dtype in ("fp32", "bf16"):
            for batch in [int(b) for b in args.batches.split(",")]:
                rate, peak = step_rate(kind, batch, dtype, args.steps, args.warmup)
                if kind == "lstm":
                    best_lstm = max(best_lstm, rate)
                print(
                    f"THROUGHPUT {kind.upper()} {dtype} batch {batch:,}: {rate:,.0f} training "
                    f"samples/s, peak device memory {peak:.2f} GiB"
                )
    print(f"LSTM best {best_lstm:,.0f} samples/s (target >= 2,000,000 on an H200-class GPU)")
    if not args.skip_protocol:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_full_universe import print_result, run_protocol

        started = time.perf_counter()
        result = run_protocol(n_stocks=args.stocks, profile="paper", accelerator="gpu")
        print_result(result, "the paper profile on the full universe in minutes")
        print(f"PROTOCOL total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
