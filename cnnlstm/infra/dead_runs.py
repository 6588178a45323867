"""MLflow runs left RUNNING by a killed or crashed process, marked KILLED at the next start.

A run killed with its process (kill -9, an out-of-memory kill, a power cut) never ends: MLflow
shows it RUNNING forever. Each run this project starts carries its owner (`cnnlstm.owner`:
`<host>:<pid>`); when the next run starts in the same experiment (`tracking.tracked_run`), the
RUNNING runs whose owner process on this host no longer exists, and their child runs, are set
to KILLED with the time they are found. Best effort: a failure here warns and never stops a run;
runs of other hosts are left alone (their processes cannot be seen from here).
"""

from __future__ import annotations

import os
import socket
import warnings
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
