"""The peak resident memory (RSS) of this process while a stage runs, for `stages.csv`.

How it is measured, and its limits:
- The kernel's high-water mark of the process (`getrusage(RUSAGE_SELF).ru_maxrss`) is exact but
  only ever grows: when it is higher at a stage's end than at its start, the process reached a
  new peak during that stage and that mark is the stage's peak, exactly.
- Otherwise (the stage stayed below an earlier stage's peak) a sampling thread's maximum of the
  current RSS (`/proc/self/statm`, every `INTERVAL_S` seconds) is the stage's peak: a spike
  shorter than the interval can be missed, and then the figure is a lower bound.
- It is the whole process's memory: stages that run side by side (the trainings, submitted to a
  task runner's threads) share it, and each reports the process's peak while it ran. Memory of
  other processes (the temporary Prefect server, a Dask or Ray worker) is not counted.
Without `/proc` (macOS) only the high-water rule applies: a stage that stays below an earlier
stage's peak reports NaN (unknown).
"""

from __future__ import annotations

import math
import os
import resource
import sys
import threading
import time
from pathlib import Path

#: Seconds between two samples of the current RSS.
INTERVAL_S = 0.02

_STATM = Path("/proc/self/statm")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MIB = 1024**2


def current_rss_mib() -> float:
    """This process's resident memory now (MiB; NaN where `/proc` is absent)."""
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE / _MIB
    except (OSError, IndexError, ValueError):
        return math.nan


def high_water_mib() -> float:
    """The process's peak resident memory so far (MiB), from `getrusage`."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MIB if sys.platform == "darwin" else peak / 1024  # bytes there, KiB here


class PeakRss:
    """Windows over which the process's peak RSS is wanted; one sampling thread serves them all.

    `open(name)` starts a window, `close(name)` ends it and returns its peak (MiB). The thread
    runs only while a window is open.
    """

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._open: dict[str, list[float]] = {}  # name -> [high water at open, sampled max]
        self._thread: threading.Thread | None = None  # the sampler, while a window is open

    def open(self, name: str) -> None:
        """Start measuring the window `name` (a second open restarts it)."""
        with self._lock:
            self._open[name] = [high_water_mib(), current_rss_mib()]
            if self._thread is None:  # the sampler clears it, under the lock, as it ends
                self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)
                self._thread.start()

    def close(self, name: str) -> float:
        """End the window `name`; its peak RSS in MiB (NaN if it was never opened)."""
        now, high = current_rss_mib(), high_water_mib()
        with self._lock:
            window = self._open.pop(name, None)
        if window is None:
            return math.nan
        at_open, sampled = window
        if high > at_open:  # a new process peak was reached inside the window: exact
            return high
        return max(sampled, now)

    def _sample(self) -> None:
        while True:
            time.sleep(self.interval_s)
            rss = current_rss_mib()
            with self._lock:
                if not self._open:  # idle: end; the next open starts a new sampler
                    self._thread = None
                    return
                for window in self._open.values():
                    if not window[1] >= rss:  # also replaces a NaN
                        window[1] = rss
