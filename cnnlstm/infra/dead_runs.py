"""Runs left RUNNING by a killed or crashed process, marked at the next start (MLflow, Prefect).

A run killed with its process (kill -9, an out-of-memory kill, a power cut) never ends: MLflow
and Prefect show it RUNNING forever. Each MLflow run this project starts carries
its owner (`cnnlstm.owner`: `<host>:<pid>`); when the next run starts in the same experiment
(`tracking.tracked_run`), the RUNNING runs whose owner process on this host no longer exists,
and their child runs, are set to KILLED with the time they are found. Best effort: a failure
here warns and never stops a run; runs of other hosts are left alone (their processes cannot be
seen from here).

Prefect: the command line runs each flow inside `owned_flow_runs()`, which tags the flow runs it
starts (subflows and task runs included) `cnnlstm.owner:<host>:<pid>` and first sets the RUNNING
or PENDING flow and task runs whose tagged owner on this host is gone to CRASHED (Prefect's state
for a run whose process died). Flow runs of a worker carry no such tag: the worker reports its
own crashed processes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import warnings
from collections.abc import Iterator
from typing import Any

OWNER_TAG = "cnnlstm.owner"


def owner_tags() -> dict[str, str]:
    """The tag naming this process as a run's owner."""
    return {OWNER_TAG: f"{socket.gethostname()}:{os.getpid()}"}


def _dead_here(owner: str | None) -> bool:
    if not owner or ":" not in owner:
        return False
    host, pid = owner.rsplit(":", 1)
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def mark_dead_runs(client: Any, experiment_id: str) -> list[str]:
    """Set the experiment's RUNNING runs of dead processes (and their children) to KILLED.

    Returns:
        The ids of the runs marked.
    """
    running = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    owners = {run.info.run_id: run.data.tags.get(OWNER_TAG) for run in running}
    marked = []
    for run in running:
        owner = owners[run.info.run_id]
        parent = run.data.tags.get("mlflow.parentRunId")
        if owner is None and parent is not None:
            owner = owners.get(parent) or client.get_run(parent).data.tags.get(OWNER_TAG)
        if _dead_here(owner):
            client.set_terminated(run.info.run_id, status="KILLED")
            marked.append(run.info.run_id)
    return marked


def mark_dead_runs_quietly(experiment_id: str) -> list[str]:
    """`mark_dead_runs` that warns instead of failing (never stops the run that starts)."""
    from mlflow import MlflowClient

    try:
        return mark_dead_runs(MlflowClient(), experiment_id)
    except Exception as err:  # noqa: BLE001 - best effort, said once
        warnings.warn(f"could not mark runs of killed processes: {err}", stacklevel=2)
        return []


def owner_tag() -> str:
    """This process as a Prefect flow run's owner tag: `cnnlstm.owner:<host>:<pid>`."""
    return f"{OWNER_TAG}:{owner_tags()[OWNER_TAG]}"


def _tagged_owner(tags: list[str]) -> str | None:
    prefix = f"{OWNER_TAG}:"
    return next((t.removeprefix(prefix) for t in tags if t.startswith(prefix)), None)


def _all_pages(read: Any, **filters: Any) -> list[Any]:
    """Every run a Prefect `read_*_runs` call returns (the API gives at most 200 a call)."""
    runs: list[Any] = []
    while True:
        page = read(**filters, limit=200, offset=len(runs))
        runs.extend(page)
        if len(page) < 200:
            return runs


def mark_dead_flow_runs(client: Any) -> list[str]:
    """Set the RUNNING or PENDING flow and task runs of dead processes on this host to CRASHED.

    Args:
        client: A synchronous Prefect client (`prefect.get_client(sync_client=True)`).

    Returns:
        The ids of the flow and task runs marked.
    """
    from prefect.client.schemas import filters
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    open_states = [StateType.RUNNING, StateType.PENDING]
    flow_runs = filters.FlowRunFilter(
        state=filters.FlowRunFilterState(type=filters.FlowRunFilterStateType(any_=open_states))
    )
    task_runs = filters.TaskRunFilter(
        state=filters.TaskRunFilterState(type=filters.TaskRunFilterStateType(any_=open_states))
    )
    marked = []
    for runs, set_state in (
        (_all_pages(client.read_flow_runs, flow_run_filter=flow_runs), client.set_flow_run_state),
        (_all_pages(client.read_task_runs, task_run_filter=task_runs), client.set_task_run_state),
    ):
        for run in runs:
            owner = _tagged_owner(list(run.tags))
            if _dead_here(owner):
                message = f"its process ({owner}) ended without reporting: killed or crashed"
                set_state(run.id, Crashed(message=message), force=True)
                marked.append(str(run.id))
    return marked


@contextlib.contextmanager
def owned_flow_runs() -> Iterator[list[str]]:
    """Mark flow runs of dead processes CRASHED, then tag the flow runs started in the block.

    Best effort: a failure to mark warns and never stops the flow. Yields the ids marked.
    """
    from prefect import get_client, tags

    try:
        with get_client(sync_client=True) as client:
            marked = mark_dead_flow_runs(client)
    except Exception as err:  # noqa: BLE001 - best effort, said once
        warnings.warn(f"could not mark flow runs of killed processes: {err}", stacklevel=2)
        marked = []
    with tags(owner_tag()):
        yield marked
