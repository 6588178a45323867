"""How many torch intra-op threads a training or an inference uses: chosen, not defaulted.

Input contract: an optional explicit count (a training config's `threads`), the environment and
the machine. `choose_threads()` returns the count with the reason; `torch_threads(n)` applies it
for a block and restores the previous count after.

Precedence (the first that is set wins):
1. an explicit count passed by the caller (`CnnTrainConfig.threads` / `LstmTrainConfig.threads`);
2. `CNNLSTM_TORCH_THREADS` in the environment (an integer >= 1);
3. `OMP_NUM_THREADS` in the environment (Dask and Ray start their workers with 1; a user who
   set it meant it);
4. auto: the cores this process may run on (`os.sched_getaffinity`, capped by a cgroup CPU quota),
   divided among the trainings that run at once in this process (`declare_concurrent_trainings`,
   set by the thread-pool task runner), and lowered to the cores the load average leaves idle.

Why the load average: these networks are small (a 30x6 LSTM with 32 hidden units, a 32-input
CNN); each operator is a short parallel region whose threads meet at a barrier. When another
process holds one of the cores, the thread waiting on it stalls the other: measured on 2 cores
at load 1.5-2.6, 2 threads ran the LSTM 2-40x and the CNN 20-30x slower than 1 thread, while on
a quiet machine 2 threads were 1.3-1.6x faster (bench/bench_training.py prints both).

Reproducibility: a CNN trained with 1 and with 2 threads differs in the last float digits (the
LSTM was bit-identical in the same check), so a thread count chosen from the load can change a
close early-stopping decision. Runs that must be bit-identical across machines or loads set the
count explicitly (`CNNLSTM_TORCH_THREADS=1`); every training records the count it used
(`torch_threads` in its metrics).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnnlstm.core.errors import UserInputError

THREADS_ENV = "CNNLSTM_TORCH_THREADS"
_concurrent_trainings = 1


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and where it came from (for logs and metrics)."""

    threads: int
    reason: str


def declare_concurrent_trainings(n: int) -> None:
    """Tell the auto rule that `n` trainings may run at once in this process (>= 1)."""
    global _concurrent_trainings
    if n < 1:
        raise ValueError(f"concurrent trainings must be >= 1, got {n}")
    _concurrent_trainings = n


def concurrent_trainings() -> int:
    """The number of trainings declared to run at once in this process."""
    return _concurrent_trainings


def _cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The cgroup v2 CPU quota in cores (cpu.max 'quota period'), or None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return int(quota) / int(period)


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.floor(limit)))
    return max(1, cores)


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UserInputError(f"{name}={raw!r}: expected a whole number of threads >= 1")
    return value


def choose_threads(
    explicit: int | None = None,
    *,
    cores: int | None = None,
    load: float | None = None,
    concurrent: int | None = None,
) -> ThreadChoice:
    """The intra-op thread count for a training or an inference, by the module's precedence.

    Args:
        explicit: a count set in the configuration; wins over everything.
        cores: cores available (default: `available_cores()`).
        load: the 1-minute load average (default: `os.getloadavg()[0]`); this process is
            assumed to be one of the runnable tasks it counts.
        concurrent: trainings running at once in this process (default: as declared).

    Returns:
        The count (>= 1) and its reason.
    """
    if explicit is not None:
        if explicit < 1:
            raise UserInputError(f"threads={explicit}: expected >= 1")
        return ThreadChoice(explicit, "configured")
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        value = _env_int(name)
        if value is not None:
            return ThreadChoice(value, f"{name}={value}")
    cores = available_cores() if cores is None else cores
    concurrent = concurrent_trainings() if concurrent is None else concurrent
    per_training = max(1, cores // concurrent)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = 0.0
    others = max(0.0, load - 1.0)  # runnable work besides this process
    idle = max(1, math.floor(cores - others + 1e-9))
    threads = max(1, min(per_training, idle))
    return ThreadChoice(
        threads,
        f"auto ({cores} cores, {concurrent} concurrent trainings, load {load:.2f})",
    )


@contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Run a block with `n` torch intra-op threads; restore the previous count after."""
    import torch

    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


__all__ = [
    "THREADS_ENV",
    "ThreadChoice",
    "available_cores",
    "choose_threads",
    "concurrent_trainings",
    "declare_concurrent_trainings",
    "torch_threads",
]
