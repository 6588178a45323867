"""How many torch intra-op threads a training or an inference uses: chosen, not defaulted.

Input contract: an optional explicit count (a training config's `threads`), the environment and
the machine. `choose_threads()` returns the count with the reason; `torch_threads(n)` applies it
for a block and restores the previous count after.

Precedence (the first that is set wins):
1. an explicit count passed by the caller (`CnnTrainConfig.threads` / `LstmTrainConfig.threads`);
2. `CNNLSTM_TORCH_THREADS` in the environment (an integer >= 1);
3. `OMP_NUM_THREADS` in the environment (Dask and Ray start their workers with 1; a user who
   set it meant it);
4. the default: the cores this process may run on (`os.sched_getaffinity`, capped by a cgroup
   CPU quota), divided among the trainings that run at once in this process
   (`declare_concurrent_trainings`, set by the thread-pool task runner). A fact of the machine,
   never of its momentary load, so one command gives byte-identical results on a quiet and on a
   busy machine.
5. load-following, only by choice (`CNNLSTM_TORCH_THREADS=load`): the default lowered to the
   cores other work leaves idle: the kernel's count of runnable tasks sampled for 0.1 s
   (`runnable_others`; the load average where that count is unavailable). Faster on a loaded
   machine, but the count (and the last float digits) then depend on the load.

Why look at other work at all: these networks are small (a 30x6 LSTM with 32 hidden units, a
32-input CNN); each operator is a short parallel region whose threads meet at a barrier. When
another process holds one of the cores, the thread waiting on it stalls the other: measured on
2 cores at load 1.5-2.6, 2 threads ran the LSTM 2-40x and the CNN 20-30x slower than 1 thread,
while on a quiet machine 2 threads were 1.24x (CNN) and 1.32x (LSTM) faster
(bench/bench_training.py prints both).

Reproducibility: a CNN trained with 1 and with 2 threads differs in the last float digits (the
LSTM was bit-identical in the same check), so a thread count chosen from the load can change a
close early-stopping decision: that is why the default follows the cores, not the load. Runs
that must be bit-identical across machines set the count explicitly (`CNNLSTM_TORCH_THREADS=1`);
every training records the count it used (`torch_threads` in its metrics and metrics.json).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnnlstm.core.errors import UserInputError

THREADS_ENV = "CNNLSTM_TORCH_THREADS"
#: The value of `THREADS_ENV` that asks for load-following counts.
FOLLOW_LOAD = "load"
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
    others: float | None = None,
    concurrent: int | None = None,
) -> ThreadChoice:
    """The intra-op thread count for a training or an inference, by the module's precedence.

    Args:
        explicit: a count set in the configuration; wins over everything.
        cores: cores available (default: `available_cores()`).
        load: a 1-minute load average to decide by (this process is assumed to be one of the
            runnable tasks it counts); without `load` and `others`, the count follows the
            cores only, unless `CNNLSTM_TORCH_THREADS=load` asks to follow the load:
            `runnable_others()` is then sampled (0.1 s), the load average where unavailable.
        others: tasks runnable besides this one (as `runnable_others()` returns).
        concurrent: trainings running at once in this process (default: as declared).

    Returns:
        The count (>= 1) and its reason.
    """
    if explicit is not None:
        if explicit < 1:
            raise UserInputError(f"threads={explicit}: expected >= 1")
        return ThreadChoice(explicit, "configured")
    follow = os.environ.get(THREADS_ENV, "").strip().lower() == FOLLOW_LOAD
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        value = None if follow and name == THREADS_ENV else _env_int(name)
        if value is not None:
            return ThreadChoice(value, f"{name}={value}")
    cores = available_cores() if cores is None else cores
    concurrent = concurrent_trainings() if concurrent is None else concurrent
    per_training = max(1, cores // concurrent)
    if others is None and load is None:
        if not follow:  # the default: the machine's cores, never its momentary load
            return ThreadChoice(per_training, f"cores ({cores} cores, {concurrent} concurrent)")
        others = runnable_others()
    if others is not None:
        # an instantaneous sample: 2 threads only when no other task ran in more than a
        # quarter of the samples (a half-busy core stalls the second thread at every barrier)
        idle = max(1, math.floor(cores - others + 0.25 + 1e-9))
        seen = f"{others:.1f} other runnable tasks"
    else:
        if load is None:
            try:
                load = os.getloadavg()[0]
            except OSError:
                load = 0.0
        idle = max(1, math.floor(cores - max(0.0, load - 1.0) + 1e-9))  # this process is one
        seen = f"load {load:.2f}"
    threads = max(1, min(per_training, idle))
    return ThreadChoice(threads, f"auto ({cores} cores, {concurrent} concurrent trainings, {seen})")


def runnable_others(
    samples: int = 10, interval: float = 0.01, proc: Path = Path("/proc")
) -> float | None:
    """Tasks runnable outside this process and its children right now (a mean of `samples`).

    Each reading is the kernel's count of runnable tasks (`/proc/loadavg`, 4th field) less
    this process's own running threads and its children's (the reading thread among them;
    Prefect's log and event threads and its temporary server are busy for a moment just when
    a training starts, and are idle while it runs).

    Why not the load average: it is a one-minute mean that counts this process's own recent
    work, so a run that just trained with 2 threads (or ran polars on both cores) saw a load of
    ~2 on a quiet 2-core machine and fell back to 1 thread. None where /proc is missing (not
    Linux): the caller then uses the load average.
    """
    counts = []
    for i in range(samples):
        try:
            fields = (proc / "loadavg").read_text().split()
            running = int(fields[3].split("/")[0])
        except (OSError, IndexError, ValueError):
            return None
        counts.append(max(0, running - _own_running(proc)))
        if i + 1 < samples:
            time.sleep(interval)
    return sum(counts) / len(counts)


def _own_running(proc: Path) -> int:
    """Running threads of this process and of its direct children (at least 1: the caller)."""
    pids = [str(os.getpid())]
    for children in (proc / "self" / "task").glob("*/children"):
        try:
            pids += children.read_text().split()
        except OSError:
            continue
    running = 0
    for pid in pids:
        for stat in (proc / pid / "task").glob("*/stat"):
            try:
                state = stat.read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            running += state == "R"
    return max(1, running)


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
    "runnable_others",
    "declare_concurrent_trainings",
    "torch_threads",
]
