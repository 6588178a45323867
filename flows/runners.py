"""Task-runner choice for flows whose tasks may run concurrently (walk-forward months, sweeps).

Input contract: a `TaskRunnerConfig` (a frozen pydantic model, so the Prefect UI renders it as a
form and rejects bad values). `build_task_runner(cfg)` turns it into one of Prefect's own task
runners; nothing here schedules work itself:

* `threads` (default): `prefect.task_runners.ThreadPoolTaskRunner`. Its size defaults to one
  worker: tasks run one after another, the sequential reference run. More threads overlap
  trainings in one process, which share torch's global random state, so their numbers are not
  reproducible; use them for I/O-bound work, and `dask` to train in parallel.
* `dask`: `prefect_dask.DaskTaskRunner` on a `distributed.LocalCluster` started for the flow run
  (`n_workers` x `threads_per_worker`, worker processes by default), or on an existing scheduler
  when `address` is given (`tcp://scheduler:8786`).
* `ray`: `prefect_ray.RayTaskRunner` (`pip install -e .[ray]`): a local Ray instance started for
  the flow run (`n_workers` CPUs, default every core; no dashboard), or the cluster at
  `address`; a clear `UserInputError` where `prefect-ray` is not installed. Ray, like Dask, starts
  its workers with `OMP_NUM_THREADS=1` (one torch thread per training, cnnlstm/infra/runtime.py).

Set-up: `build_task_runner` sets this process up for trainings (`runtime.set_up_process`: the
allocator, Lightning's quieting) and declares how many may run at once. A flow module builds its
default runner when it is imported, so a Prefect worker's flow run passes through here first.

Reproducibility: the same seeds give the same decisions on every runner. Bit-identical training
also needs the same number of torch intra-op threads: Dask starts its worker processes with
`OMP_NUM_THREADS=1` (so torch uses one thread there), while a plain process uses one per core,
and float sums taken in another order differ in their last digits. Threads share one process's
global random state, so a thread pool of more than one worker does not reproduce sequential
training; worker processes (`dask`) do not share it.

Dask workers receive a task's function pickled by value (the module attribute is the `Task`,
not the function) with only the globals its code names: a task that calls a flow should import
that flow in its body, or the flow travels without the globals its postponed annotations need.

A flow's runner is fixed when it is decorated; `with_task_runner(flow, cfg)` returns a copy of the
flow using the chosen runner, which is how a parent flow picks the runner of a child flow at run
time.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cnnlstm.core.errors import UserInputError
from cnnlstm.infra import runtime

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.task_runners import TaskRunner

RunnerKind = Literal["threads", "dask", "ray"]


class TaskRunnerConfig(BaseModel):
    """Which Prefect task runner executes a flow's concurrent tasks, and how large it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: RunnerKind = Field(
        "threads", description="threads (local thread pool), dask, or ray (where installed)"
    )
    max_workers: int | None = Field(
        None,
        ge=1,
        description="threads: pool size; none: 1 (sequential; more threads overlap trainings "
        "that share torch's random state, so results are not reproducible)",
    )
    address: str | None = Field(
        None,
        min_length=1,
        description="dask: scheduler address (tcp://host:8786); ray: cluster address; "
        "none starts a local cluster for the run",
    )
    n_workers: int | None = Field(
        None,
        ge=1,
        description="dask LocalCluster: worker count; local ray: CPUs (default: one per core)",
    )
    threads_per_worker: int = Field(1, ge=1, description="dask LocalCluster: threads per worker")
    comm_timeout_s: int = Field(
        300,
        ge=30,
        description="dask: seconds a connection may stay silent before it is dropped (Dask's "
        "default of 30 s loses workers whose first imports and trainings hold the GIL long)",
    )
    processes: bool = Field(
        True,
        description="dask LocalCluster: workers in separate processes (True) or threads "
        "of this process (False; tasks then share the GIL)",
    )

    @model_validator(mode="after")
    def _settings_match_kind(self) -> TaskRunnerConfig:
        """Reject settings that the chosen kind would silently ignore."""
        ignored: list[str] = []
        if self.kind != "threads" and self.max_workers is not None:
            ignored.append("max_workers (threads only)")
        if self.kind == "threads" and self.address is not None:
            ignored.append("address (dask or ray only)")
        if self.kind == "threads" and self.n_workers is not None:
            ignored.append("n_workers (dask or ray only)")
        if self.address is not None and self.n_workers is not None:
            ignored.append("n_workers (a remote cluster sizes itself)")
        if ignored:
            raise ValueError(f"task runner kind {self.kind!r} does not use: {', '.join(ignored)}")
        return self

    def describe(self) -> str:
        """A one-line human description, for logs and MLflow parameters."""
        if self.kind == "threads":
            return f"threads ({self.max_workers or 1} workers)"
        if self.address is not None:
            return f"{self.kind} at {self.address}"
        if self.kind == "dask":
            workers = "one per core" if self.n_workers is None else str(self.n_workers)
            mode = "processes" if self.processes else "threads"
            return (
                f"dask LocalCluster ({workers} workers x {self.threads_per_worker} threads, {mode})"
            )
        return f"ray (local, {self.n_workers or 'every'} CPUs)"


def _require(module: str, package: str, kind: str) -> None:
    """Raise a readable error when the optional package behind a runner kind is missing."""
    if importlib.util.find_spec(module) is None:
        raise UserInputError(
            f"task runner {kind!r} needs the {package!r} package, which is not installed; "
            f"install it (pip install {package}) or choose kind='threads'"
        )


def build_task_runner(cfg: TaskRunnerConfig) -> TaskRunner:
    """Build the Prefect task runner that `cfg` describes.

    Args:
        cfg: The runner choice and its size.

    Returns:
        A fresh, not yet started Prefect task runner.

    Raises:
        UserInputError: The runner's package (`prefect-dask`, `prefect-ray`) is not installed.
    """
    runtime.set_up_process()
    if cfg.kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        # trainings in these threads share this process's cores: one share each
        runtime.declare_concurrent_trainings(cfg.max_workers or 1)
        return ThreadPoolTaskRunner(max_workers=cfg.max_workers or 1)
    if cfg.kind == "dask":
        return _dask_runner(cfg)
    return _ray_runner(cfg)


def _dask_runner(cfg: TaskRunnerConfig) -> TaskRunner:
    """A `DaskTaskRunner`: a `LocalCluster` started for the run, or the scheduler at `address`."""
    _require("prefect_dask", "prefect-dask", "dask")
    import dask
    from prefect_dask import DaskTaskRunner

    # Dask's configuration is process-wide and its nannies hand it to the worker processes they
    # start: a longer silence is tolerated between this process, the scheduler and the workers.
    # Dask's default of 30 s drops workers whose first imports and trainings hold the GIL long
    # on a busy machine, and the run then hangs with tasks and no workers.
    timeout = f"{cfg.comm_timeout_s}s"
    dask.config.set(
        {"distributed.comm.timeouts.tcp": timeout, "distributed.comm.timeouts.connect": timeout}
    )
    if cfg.address is not None:
        return DaskTaskRunner(address=cfg.address)
    cluster_kwargs = {
        "n_workers": cfg.n_workers,
        "threads_per_worker": cfg.threads_per_worker,
        "processes": cfg.processes,
        # a random free dashboard port: several runs (or tests) may share one host
        "dashboard_address": ":0",
    }
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={k: v for k, v in cluster_kwargs.items() if v is not None},
    )


def _ray_runner(cfg: TaskRunnerConfig) -> TaskRunner:
    """A `RayTaskRunner`: a local Ray instance started for the run, or the cluster at `address`."""
    _require("prefect_ray", "prefect-ray", "ray")
    from prefect_ray import RayTaskRunner

    if cfg.address is not None:
        return RayTaskRunner(address=cfg.address)
    init = {"include_dashboard": False, "num_cpus": cfg.n_workers}
    return RayTaskRunner(init_kwargs={k: v for k, v in init.items() if v is not None})


def with_task_runner(flow: Flow, cfg: TaskRunnerConfig) -> Flow:
    """Return a copy of `flow` whose tasks run on the runner that `cfg` describes."""
    return flow.with_options(task_runner=build_task_runner(cfg))
