"""Torch intra-op threads are chosen (explicit > env > cores, concurrency, load), not defaulted."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from cnnlstm.core.errors import UserInputError
from cnnlstm.infra import runtime as th
from cnnlstm.tasks.training.loop import torch_threads


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv(th.THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    th.declare_concurrent_trainings(1)
    yield
    th.declare_concurrent_trainings(1)


def test_auto_uses_every_core_on_a_quiet_machine_and_one_on_a_loaded_one():
    # load counts this process itself: load 1.0 on 2 cores leaves both for it
    assert th.choose_threads(cores=2, load=1.0).threads == 2
    assert th.choose_threads(cores=2, load=0.2).threads == 2
    assert th.choose_threads(cores=2, load=1.6).threads == 1  # another half-busy core
    assert th.choose_threads(cores=2, load=4.0).threads == 1
    assert th.choose_threads(cores=16, load=5.0).threads == 12
    assert "load 4.00" in th.choose_threads(cores=2, load=4.0).reason


def test_concurrent_trainings_share_the_cores():
    assert th.choose_threads(cores=8, load=0.0, concurrent=4).threads == 2
    assert th.choose_threads(cores=2, load=0.0, concurrent=3).threads == 1
    th.declare_concurrent_trainings(2)
    assert th.choose_threads(cores=8, load=0.0).threads == 4
    with pytest.raises(ValueError):
        th.declare_concurrent_trainings(0)


def test_an_explicit_setting_wins_then_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert th.choose_threads(cores=8, load=0.0) == th.ThreadChoice(1, "OMP_NUM_THREADS=1")
    monkeypatch.setenv(th.THREADS_ENV, "3")
    assert th.choose_threads(cores=8, load=0.0).threads == 3  # ours wins over OMP's
    assert th.choose_threads(5, cores=8, load=9.0) == th.ThreadChoice(5, "configured")
    monkeypatch.setenv(th.THREADS_ENV, "zero")
    with pytest.raises(UserInputError, match="CNNLSTM_TORCH_THREADS"):
        th.choose_threads(cores=8, load=0.0)
    with pytest.raises(UserInputError):
        th.choose_threads(0)


def test_available_cores_follow_affinity_and_a_cgroup_quota(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    read_limit = th._cgroup_cpu_limit
    monkeypatch.setattr(th, "_cgroup_cpu_limit", lambda: None)
    assert th.available_cores() == 6
    monkeypatch.setattr(th, "_cgroup_cpu_limit", lambda: 2.5)
    assert th.available_cores() == 2
    monkeypatch.setattr(th, "_cgroup_cpu_limit", read_limit)
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert th._cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert th._cgroup_cpu_limit(tmp_path) is None
    assert th._cgroup_cpu_limit(tmp_path / "absent") is None


def test_torch_threads_applies_for_a_block_and_restores():
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before


def test_other_runnable_tasks_are_sampled_from_the_kernels_count(tmp_path, monkeypatch):
    proc = tmp_path / "proc"
    proc.mkdir()
    monkeypatch.setattr(th, "_own_running", lambda proc: 1)  # the reading thread only
    (proc / "loadavg").write_text("3.10 2.00 1.50 1/240 5000\n")
    assert th.runnable_others(samples=3, interval=0.0, proc=proc) == 0.0
    (proc / "loadavg").write_text("3.10 2.00 1.50 3/240 5000\n")
    assert th.runnable_others(samples=3, interval=0.0, proc=proc) == 2.0
    monkeypatch.setattr(th, "_own_running", lambda proc: 3)  # our threads are not others
    assert th.runnable_others(samples=3, interval=0.0, proc=proc) == 0.0
    (proc / "loadavg").write_text("garbage\n")
    assert th.runnable_others(samples=1, proc=proc) is None
    assert th.runnable_others(samples=1, proc=tmp_path / "absent") is None


def test_our_own_busy_threads_and_children_are_not_counted_as_others():
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin, daemon=True)  # busy, but ours
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # busy, our child
    spinner.start()
    try:
        time.sleep(0.5)
        own = th._own_running(Path("/proc"))
    finally:
        stop.set()
        child.kill()
        child.wait()
    if not Path("/proc/self/task").is_dir():
        pytest.skip("no /proc here")
    assert own >= 2  # this thread and the child at least (the spinner shares the GIL)


def test_the_sample_decides_conservatively_and_the_load_average_is_the_fallback(monkeypatch):
    assert th.choose_threads(cores=2, others=0.0).threads == 2
    assert th.choose_threads(cores=2, others=0.2).threads == 2
    assert th.choose_threads(cores=2, others=0.3).threads == 1  # a core busy 30% of the time
    assert th.choose_threads(cores=16, others=4.0).threads == 12
    # load-following (by choice): a quiet sample gives every core even when the load average
    # is high (this process's own last minute of work is in it)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv(th.THREADS_ENV, "load")
    monkeypatch.setattr(th, "runnable_others", lambda: 0.0)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.4, 2.0, 1.0))
    choice = th.choose_threads(cores=2)
    assert choice.threads == 2 and "0.0 other runnable tasks" in choice.reason
    monkeypatch.setattr(th, "runnable_others", lambda: None)  # no /proc: the load average
    assert th.choose_threads(cores=2).threads == 1


def test_a_busy_process_next_to_us_is_seen():
    # started through a shell that exits: the spinner is not our child (our children are ours)
    spinner = subprocess.Popen(
        ["sh", "-c", f"{sys.executable} -c 'while True: pass' & echo $!"],
        stdout=subprocess.PIPE,
        text=True,
    )
    pid = int(spinner.stdout.readline())
    spinner.wait()
    try:
        time.sleep(0.5)
        seen = th.runnable_others(samples=20, interval=0.01)
    finally:
        os.kill(pid, 9)
    if seen is None:
        pytest.skip("no /proc/loadavg here")
    assert seen >= 0.5
    assert th.choose_threads(cores=2, others=seen).threads == 1


def test_the_default_follows_the_cores_never_the_momentary_load(monkeypatch):
    monkeypatch.delenv(th.THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(th, "runnable_others", lambda *a, **k: 5.0)  # a busy machine
    monkeypatch.setattr(th.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    busy = th.choose_threads(cores=4, concurrent=1)
    monkeypatch.setattr(th, "runnable_others", lambda *a, **k: 0.0)  # a quiet one
    monkeypatch.setattr(th.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert busy == th.choose_threads(cores=4, concurrent=1)
    assert busy.threads == 4 and "cores" in busy.reason
    assert th.choose_threads(cores=4, concurrent=2).threads == 2


def test_load_following_only_by_choice(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv(th.THREADS_ENV, "load")
    monkeypatch.setattr(th, "runnable_others", lambda *a, **k: 3.0)
    assert th.choose_threads(cores=4, concurrent=1).threads == 1


def test_the_profiler_is_chosen_by_the_environment(monkeypatch):
    monkeypatch.delenv(th.PROFILER_ENV, raising=False)
    assert th.profiler() is None  # Lightning's default, which records nothing
    monkeypatch.setenv(th.PROFILER_ENV, "Simple")
    assert th.profiler() == "simple"
    monkeypatch.setenv(th.PROFILER_ENV, "cprofile")
    with pytest.raises(UserInputError, match="CNNLSTM_PROFILER"):
        th.profiler()


def test_the_domain_overrides_no_private_library_attribute():
    # Classifier.__setattr__ intercepted Lightning's private `_current_fx_name`: gone, as
    # paired rounds showed no measurable gain (the README's benchmark section)
    from cnnlstm.models.modules import Classifier

    assert "__setattr__" not in Classifier.__dict__
