"""How this process runs trainings: one module for the process settings the edges apply.

Called only by the edges: the command line (`cnnlstm.cli.main`), the runner set-up
(`cnnlstm.flows.runners.build_task_runner`, which a flow module runs when it is imported, so a
Prefect worker's flow run passes through it) and the training stages (`flows/stages/training.py`,
the first code of a Dask or Ray worker process that trains). The domain (`cnnlstm.tasks`) and the
networks (`cnnlstm.models`) never import it (an import-linter contract): they take the values
chosen here as arguments (a thread count, a profiler name) and record what they used.

* Threads (`choose_threads`): how many torch intra-op threads a training or an inference uses.
* Allocator (`keep_freed_heap`): glibc keeps freed heap for reuse instead of trimming it.
* Import prefetch (`prefetch_imports`): torch and Lightning imported in a background thread.
* Lightning's quieting (`quiet_lightning`): its known warnings and console banners off.
* Profiler (`profiler`): which Lightning profiler a fit uses (`CNNLSTM_PROFILER`; none by default).
* `set_up_process()` applies what belongs to the whole process (allocator, quieting), once.

Threads, precedence (the first that is set wins):
1. an explicit count passed by the caller (`CnnTrainConfig.threads` / `LstmTrainConfig.threads`);
2. `CNNLSTM_TORCH_THREADS` in the environment (an integer >= 1);
3. `OMP_NUM_THREADS` in the environment (Dask and Ray start their workers with 1; a user who
   set it meant it);
4. the default, fixed and documented: the cores this process may run on
   (`os.sched_getaffinity`, capped by a cgroup CPU quota), divided among the trainings that run
   at once in this process (`declare_concurrent_trainings`, set by the thread-pool task runner).
   A fact of the machine, never of its momentary load, so one command gives byte-identical
   results on a quiet and on a busy machine.
5. load-following, only by choice (`CNNLSTM_TORCH_THREADS=load`): the default lowered to the
   cores other work leaves idle: the kernel's count of runnable tasks sampled for 0.1 s
   (`runnable_others`; the load average where that count is unavailable). Faster on a loaded
   machine (these small networks' parallel regions stall at every barrier when another process
   holds a core), but the count (and the last float digits) then depend on the load.

Reproducibility: a CNN trained with 1 and with 2 threads differs in the last float digits, so
explicitly different counts may differ there; every training records the count it used
(`torch_threads` in its metrics and in metrics.json).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
import os
import sys
import threading
import time
import warnings
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


# --- the allocator ------------------------------------------------------------------------------

#: `CNNLSTM_KEEP_HEAP=0` leaves glibc's allocator as it is.
KEEP_ENV = "CNNLSTM_KEEP_HEAP"
TRIM_BYTES = 256 << 20
MMAP_BYTES = 32 << 20
_M_TRIM_THRESHOLD = -1  # glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_heap_state: str | None = None


def keep_freed_heap() -> str:
    """Keep freed heap memory for reuse in this process (once); what was done, in words.

    A CNN training step allocates and frees a few MB of activations; with glibc's adaptive
    thresholds the freed top of the heap is trimmed back to the kernel every step and faulted in
    again by the next (~1,000 page faults a step, a quarter of the bare loop's speed; the README's
    benchmark section). Here blocks under `MMAP_BYTES` come from the heap and up to `TRIM_BYTES`
    of free heap top is kept. Peak memory is unchanged (what a step frees, the next reuses);
    after training up to `TRIM_BYTES` may stay mapped to the process. Where the C library is not
    glibc (musl, macOS) nothing changes.

    Returns:
        "kept" when the thresholds were set, else why not ("off: ..." or "unavailable: ...").
    """
    global _heap_state
    if _heap_state is None:
        if os.environ.get(KEEP_ENV, "").strip() == "0":
            _heap_state = f"off: {KEEP_ENV}=0"
        else:
            _heap_state = _set_heap_thresholds()
    return _heap_state


def _set_heap_thresholds() -> str:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl has a mallopt stub)
    except (OSError, AttributeError) as err:
        return f"unavailable: not glibc ({err})"
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    if not (mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES) and mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)):
        return "unavailable: mallopt refused the thresholds"
    return "kept"


# --- import prefetch ----------------------------------------------------------------------------

_prefetch: threading.Thread | None = None


def prefetch_imports() -> None:
    """Start importing torch and Lightning in a background thread (once per process).

    A stage that computes the networks' inputs calls it: a training will follow, and the 5 s of
    CPU these imports take on a 2-core machine then overlap the feature stages, which spend most
    of their time in polars' native code without the GIL. Python's import locks make a later
    `import torch` wait for this import rather than import twice; an import error is left for
    that later import to raise.
    """
    global _prefetch
    if _prefetch is None and "pytorch_lightning" not in sys.modules:
        _prefetch = threading.Thread(target=_import_training, name="torch-import", daemon=True)
        _prefetch.start()


def _import_training() -> None:
    try:
        import pytorch_lightning  # noqa: F401
        import torch  # noqa: F401

        from cnnlstm.tasks.training import loop as train_loop  # noqa: F401
    except Exception:  # noqa: BLE001, S110 - the training's own import reports it
        pass


# --- Lightning's quieting and the profiler ------------------------------------------------------

#: Lightning's (and torch's) known, harmless warnings: (message regex, module regex).
LIGHTNING_WARNINGS = (
    (r".*isinstance\(treespec, LeafSpec\)` is deprecated.*", r"(pytorch_lightning|torch)\..*"),
    (r".*LeafSpec.*is deprecated.*", r"(pytorch_lightning|torch)\..*"),
    (r".*does not have many workers which may be a bottleneck.*", r"pytorch_lightning\..*"),
    (r".*Please use the new API settings to control TF32.*", r"torch\..*"),
    (r".*The '(train|val)_dataloader' does not have many workers.*", r"pytorch_lightning\..*"),
    (r".*pkg_resources is deprecated.*", r"(lightning_utilities|lightning_fabric)\..*"),
)
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric")


def quiet_lightning() -> None:
    """Lightning's known warnings ignored; its banners and tips go where the process logs.

    Lightning gives its loggers a console handler of their own when it is imported before the
    root logger has one: that handler is removed and the records propagate, so the process's
    own handlers decide (the command line: the log file, and the console only from ERROR).
    """
    for message, module in LIGHTNING_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)
    # emitted with the caller's module as the warning's module
    warnings.filterwarnings(
        "ignore", message=r".*LeafSpec.*is deprecated.*", category=FutureWarning
    )
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        logger.propagate = True
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)


PROFILER_ENV = "CNNLSTM_PROFILER"
PROFILERS = ("simple", "advanced", "pytorch")


def profiler() -> str | None:
    """The Lightning profiler of a fit: `CNNLSTM_PROFILER` (simple, advanced, pytorch), or none."""
    name = os.environ.get(PROFILER_ENV, "").strip().lower()
    if name in ("", "none"):
        return None
    if name not in PROFILERS:
        raise UserInputError(
            f"{PROFILER_ENV}={name!r}: expected one of none, {', '.join(PROFILERS)}"
        )
    return name


# --- the process --------------------------------------------------------------------------------


def set_up_process() -> str:
    """Apply the whole process's settings (once; idempotent): the allocator, Lightning's quieting.

    Returns:
        What the allocator step did (`keep_freed_heap`'s answer).
    """
    heap = keep_freed_heap()
    quiet_lightning()
    return heap


__all__ = [
    "FOLLOW_LOAD",
    "KEEP_ENV",
    "PROFILER_ENV",
    "THREADS_ENV",
    "ThreadChoice",
    "available_cores",
    "choose_threads",
    "concurrent_trainings",
    "declare_concurrent_trainings",
    "keep_freed_heap",
    "prefetch_imports",
    "profiler",
    "quiet_lightning",
    "runnable_others",
    "set_up_process",
]
