"""Prefect operations of the live flows: run names, which errors are retried, timeouts.

Run names say what a run acts for (`daily-timing/2016-03-03`, `monthly-selection/2016-03`);
retries are for transient failures only (a network error or timeout of an online source), never
for a stale feed, a refused champion or a bug, which fail red at once.
"""

from __future__ import annotations

import socket
import urllib.error
from collections.abc import Callable
from datetime import date
from typing import Any

#: Exceptions a retry may cure: the network, a timeout, an HTTP error from a data vendor.
TRANSIENT = (ConnectionError, TimeoutError, socket.timeout, urllib.error.URLError)
#: Wall-clock limits of the live flows in seconds (a hung source must not block the next day).
TIMEOUTS = {
    "data_update": 1800,
    "daily_timing": 1800,
    "monthly_selection": 3600,
    "data_health": 600,
    "monitor": 1800,
}


def is_transient(exc: BaseException | None) -> bool:
    """Whether an exception is worth retrying (see `TRANSIENT`), following its causes."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, TRANSIENT):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry a failed task only for a transient error."""
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 - inspecting the failure, not handling it
        return is_transient(exc)
    return False


def run_namer(prefix: str, month: bool = False) -> Callable[[], str]:
    """A `flow_run_name` callable: `<prefix>/<as_of>` (or the month), `<prefix>/today` without."""

    def name() -> str:
        from prefect.runtime import flow_run

        params = (flow_run.parameters or {}).get("params")
        as_of = params.get("as_of") if isinstance(params, dict) else getattr(params, "as_of", None)
        if as_of is None:
            return f"{prefix}/today"
        day = as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of))
        return f"{prefix}/{day:%Y-%m}" if month else f"{prefix}/{day}"

    return name


def live_ingest():  # noqa: ANN201 - a Prefect task
    """The ingest stage as the live flows run it: retried 3 times a minute apart, transient only."""
    from cnnlstm.flows.stages.data import ingest

    return ingest.with_options(
        retries=3, retry_delay_seconds=60, retry_condition_fn=retry_transient
    )
