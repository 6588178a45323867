"""The task-runner choice: validation of the config, the Prefect runner each kind builds, and that
the built runners really execute a flow's tasks concurrently with the same results."""

from __future__ import annotations

import importlib.util
import time

import pytest
from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import ValidationError

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.runners import TaskRunnerConfig, build_task_runner, with_task_runner


def test_default_is_a_sequential_thread_pool():
    cfg = TaskRunnerConfig()
    runner = build_task_runner(cfg)
    assert isinstance(runner, ThreadPoolTaskRunner)
    assert runner._max_workers == 1  # reproducible: trainings never overlap
    assert cfg.describe() == "threads (1 workers)"


def test_threads_max_workers_reaches_the_pool():
    runner = build_task_runner(TaskRunnerConfig(max_workers=1))
    assert runner._max_workers == 1


def test_config_is_frozen_and_forbids_unknown_fields():
    cfg = TaskRunnerConfig()
    with pytest.raises(ValidationError):
        cfg.kind = "dask"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        TaskRunnerConfig(workers=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        TaskRunnerConfig(kind="spark")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TaskRunnerConfig(max_workers=0)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"kind": "threads", "address": "tcp://x:8786"}, "address"),
        ({"kind": "dask", "max_workers": 4}, "max_workers"),
        ({"kind": "threads", "n_workers": 2}, "n_workers"),
        ({"kind": "dask", "address": "tcp://x:8786", "n_workers": 2}, "n_workers"),
    ],
)
def test_settings_the_kind_would_ignore_are_rejected(kwargs, named):
    with pytest.raises(ValidationError, match=named):
        TaskRunnerConfig(**kwargs)


def test_dask_local_cluster_settings_reach_the_runner():
    from prefect_dask import DaskTaskRunner

    cfg = TaskRunnerConfig(kind="dask", n_workers=3, threads_per_worker=2, processes=False)
    runner = build_task_runner(cfg)
    assert isinstance(runner, DaskTaskRunner)
    assert runner.address is None
    assert runner.cluster_class == "distributed.LocalCluster"
    assert runner.cluster_kwargs["n_workers"] == 3
    assert runner.cluster_kwargs["threads_per_worker"] == 2
    assert runner.cluster_kwargs["processes"] is False
    assert "3 workers x 2 threads" in cfg.describe()


def test_dask_comm_timeout_is_set_for_the_cluster_it_starts():
    import dask

    keys = ("distributed.comm.timeouts.tcp", "distributed.comm.timeouts.connect")
    before = {k: dask.config.get(k) for k in keys}
    try:
        build_task_runner(TaskRunnerConfig(kind="dask", comm_timeout_s=120))
        assert {k: dask.config.get(k) for k in keys} == dict.fromkeys(keys, "120s")
    finally:
        dask.config.set(before)
    with pytest.raises(ValidationError):
        TaskRunnerConfig(kind="dask", comm_timeout_s=5)


def test_dask_address_connects_to_an_existing_scheduler():
    runner = build_task_runner(TaskRunnerConfig(kind="dask", address="tcp://scheduler:8786"))
    assert runner.address == "tcp://scheduler:8786"
    assert runner.cluster_class is None
    assert runner.cluster_kwargs == {}


@pytest.mark.skipif(
    importlib.util.find_spec("prefect_ray") is None, reason="prefect-ray not installed (ray extra)"
)
def test_ray_builds_a_local_instance_without_dashboard_or_connects_to_a_cluster():
    from prefect_ray import RayTaskRunner

    local = build_task_runner(TaskRunnerConfig(kind="ray", n_workers=2))
    assert isinstance(local, RayTaskRunner)
    assert local.address is None
    assert local.init_kwargs["include_dashboard"] is False and local.init_kwargs["num_cpus"] == 2
    remote = build_task_runner(TaskRunnerConfig(kind="ray", address="ray://head:10001"))
    assert remote.address == "ray://head:10001" and "num_cpus" not in remote.init_kwargs
    with pytest.raises(ValidationError, match="n_workers"):
        TaskRunnerConfig(kind="ray", address="ray://head:10001", n_workers=2)


def test_a_thread_pool_declares_its_concurrent_trainings():
    from cnnlstm.infra import runtime as threads

    try:
        build_task_runner(TaskRunnerConfig(max_workers=3))
        assert threads.concurrent_trainings() == 3
        build_task_runner(TaskRunnerConfig())
        assert threads.concurrent_trainings() == 1
    finally:
        threads.declare_concurrent_trainings(1)


@pytest.mark.skipif(
    importlib.util.find_spec("prefect_ray") is not None, reason="prefect-ray is installed here"
)
def test_ray_without_prefect_ray_is_a_readable_error():
    with pytest.raises(UserInputError, match="prefect-ray"):
        build_task_runner(TaskRunnerConfig(kind="ray"))


@task
def _timed_square(x: int) -> tuple[int, float, float]:
    begin = time.monotonic()
    time.sleep(0.3)
    return x * x, begin, time.monotonic()


@flow
def _squares(n: int) -> list[tuple[int, float, float]]:
    futures = [_timed_square.submit(i) for i in range(n)]
    return [f.result() for f in futures]


def _overlapped(results) -> bool:
    """True when some two tasks ran at the same time (one began before another ended)."""
    spans = sorted((begin, end) for _, begin, end in results)
    return any(nxt[0] < prev[1] for prev, nxt in zip(spans, spans[1:], strict=False))


def test_with_task_runner_replaces_the_flows_runner():
    chosen = with_task_runner(_squares, TaskRunnerConfig(max_workers=2))
    assert isinstance(chosen.task_runner, ThreadPoolTaskRunner)
    assert chosen.task_runner._max_workers == 2
    assert chosen.fn is _squares.fn


def test_runners_give_the_sequential_results_and_only_parallel_ones_overlap(prefect_harness):
    sequential = with_task_runner(_squares, TaskRunnerConfig(max_workers=1))(4)
    assert [v for v, _, _ in sequential] == [0, 1, 4, 9]
    assert not _overlapped(sequential)

    threads = with_task_runner(_squares, TaskRunnerConfig(max_workers=4))(4)
    assert [v for v, _, _ in threads] == [0, 1, 4, 9]
    assert _overlapped(threads)

    # Dask workers as threads of this process: the tasks here live in a test module that a
    # worker process could not import (the walk-forward test covers worker processes).
    cfg = TaskRunnerConfig(kind="dask", n_workers=2, threads_per_worker=2, processes=False)
    dask = with_task_runner(_squares, cfg)(4)
    assert [v for v, _, _ in dask] == [0, 1, 4, 9]
    assert _overlapped(dask)
