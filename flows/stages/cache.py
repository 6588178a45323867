"""How a stage becomes a cached Prefect task whose cache lives beside its artifacts.

`stage_task("train_lstm", version=1)` decorates a function as a Prefect task whose cache key is
`cnnlstm.infra.artifacts.stage_cache_key(stage, version, arguments)`: the fingerprints of the
`ArtifactRef`s it receives, its parameters (pydantic models as JSON) and its version, never
Prefect's cloudpickle hash of frames. Results are persisted (they are only the small refs).

Prefect keeps a cached result in its result storage under the cache key; `bound` points that
storage at `<data_home>/prefect-results`, so cache records live and die with the artifacts they
reference (a cleaned data directory re-runs everything rather than returning refs to files that
are gone), and two data directories never share a cache. `refresh=True` recomputes and
overwrites the records. `StageRunner` calls stages from a flow and records which ran and which
came from the cache.

No code from data: results are JSON (`RESULT_SERIALIZER`: Prefect's JSON serializer whose
decoder rebuilds only this project's own models, `decode_ref`), never cloudpickle. Prefect
deserializes a record with the serializer named *in the record*, so a planted pickle record
would still be unpickled: the key function therefore looks at the record its key names before
Prefect does (`refuse_foreign_record`) and moves any record written with another serializer
aside (`<key>.refused`), with a warning; the stage then recomputes.

Why a key function and not `INPUTS + TASK_SOURCE`: the source of a task wrapper says nothing
about the helpers it calls; the explicit stage version does, and artifact references hash in
microseconds where a frame would be pickled and hashed in full.
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from prefect import Task, task
from prefect.context import TaskRunContext
from prefect.futures import PrefectFuture
from prefect.serializers import JSONSerializer, prefect_json_object_decoder

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.memory import PeakRss
from cnnlstm.core.paths import data_home
from cnnlstm.infra.artifacts import stage_cache_key

R = TypeVar("R")


def results_dir() -> Path:
    """Where Prefect persists stage results and cache records (inside the data directory)."""
    path = data_home() / "prefect-results"
    path.mkdir(parents=True, exist_ok=True)
    return path


#: Stage results as JSON; only this project's models are rebuilt from it.
RESULT_SERIALIZER = JSONSerializer(object_decoder="cnnlstm.flows.stages.cache.decode_ref")
_OWN = "cnnlstm."


def decode_ref(obj: dict[str, Any]) -> Any:
    """The JSON decoder's object hook: rebuild this project's models, refuse any other class.

    Raises:
        ValueError: the record names a class outside `cnnlstm` (never imported).
    """
    name = obj.get("__class__") or obj.get("__exc_type__")
    if name is not None and not str(name).startswith(_OWN):
        raise ValueError(f"stage result names class {name!r}, not one of this project's")
    return prefect_json_object_decoder(obj)


def refuse_foreign_record(path: Path) -> bool:
    """Move a result record aside unless it was written by `RESULT_SERIALIZER`.

    Returns:
        Whether a record was refused (the stage then recomputes).
    """
    if not path.is_file():
        return False
    try:
        record = json.loads(path.read_bytes())
        serializer = record["metadata"]["serializer"]
    except (OSError, ValueError, KeyError, TypeError):
        serializer = None
    if serializer == RESULT_SERIALIZER.model_dump(mode="json"):
        return False
    refused = path.with_name(path.name + ".refused")
    os.replace(path, refused)
    warnings.warn(
        f"stage cache record {path} was not written as this project's JSON (a pickle, a "
        f"planted or an older record): moved aside to {refused}, the stage recomputes",
        stacklevel=2,
    )
    return True


def _key(
    stage: str, version: int, context: TaskRunContext | None, parameters: Mapping[str, Any]
) -> str:
    """Prefect's cache key function for one stage (the context is not part of the key).

    Before Prefect looks the key up, a record under it that this project did not write as
    JSON is moved aside (`refuse_foreign_record`).
    """
    key = stage_cache_key(stage, version, parameters)
    refuse_foreign_record(results_dir() / key)
    return key


def stage_task(
    stage: str, *, version: int, retries: int = 0, retry_delay_seconds: float = 0
) -> Callable[[Callable[..., R]], Task[..., R]]:
    """Decorate a stage function as a cached Prefect task named `stage`.

    Args:
        stage: Stage name: the task's name in the UI, its artifact folder and part of its key.
        version: Bump when the stage's logic (or a helper it calls) changes meaning.
        retries: Retries of a failed attempt (for flaky online sources).
        retry_delay_seconds: Pause between retries.
    """

    def decorate(fn: Callable[..., R]) -> Task[..., R]:
        wrapped = task(
            name=stage,
            cache_key_fn=partial(_key, stage, version),
            persist_result=True,
            result_serializer=RESULT_SERIALIZER,
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
            retry_condition_fn=transient_only if retries else None,
        )(fn)
        wrapped.stage_version = version  # type: ignore[attr-defined]
        return wrapped

    return decorate


def transient_only(task: Task, task_run: Any, state: Any) -> bool:
    """Prefect's retry condition: retry a failed attempt unless the user's input caused it.

    A `UserInputError` (a wrong path, invalid rows, a bad option) fails the same way every time:
    retrying it only re-reads every file and prints the traceback again. Other errors (network,
    a busy database) are retried as the stage asks.
    """
    error = getattr(state, "data", None)
    return not isinstance(error, UserInputError)


def bound(stage: Task[..., R], *, refresh: bool = False) -> Task[..., R]:
    """The stage with its result storage in the data directory (and a forced refresh if asked)."""
    return stage.with_options(result_storage=results_dir(), refresh_cache=refresh or None)


class StageRunner:
    """Calls stages inside a flow and records how each ended (`Completed`, `Cached`, ...).

    The record is what a flow reports as "what ran and what came from the cache", with each
    stage's wall seconds and the process's peak resident memory while it ran (`peak_rss_mib`,
    MiB; how it is measured and its limits: `cnnlstm.core.memory`).
    """

    def __init__(self, *, refresh: bool = False) -> None:
        self.refresh = refresh
        self.states: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.peak_rss_mib: dict[str, float] = {}
        self._clocks: dict[int, tuple[float, Callable[[], tuple[float, float]]]] = {}
        self._memory = PeakRss()

    def __call__(
        self, stage: Task[..., R], *args: Any, label: str | None = None, **kwargs: Any
    ) -> R:
        """Run `stage` now and return its value (its exception propagates on failure)."""
        name = label or stage.name
        started = time.perf_counter()
        self._memory.open(name)
        try:
            state = bound(stage, refresh=self.refresh)(*args, return_state=True, **kwargs)
        finally:
            self.peak_rss_mib[name] = self._memory.close(name)
        self.seconds[name] = time.perf_counter() - started
        self.states[name] = state.name
        return state.result()

    def submit(self, stage: Task[..., R], *args: Any, **kwargs: Any) -> PrefectFuture[R]:
        """Submit `stage` to the flow's task runner; pass the future to `collect`.

        Its seconds (and its peak memory window) run from the submission to the moment the
        task runner reports it done (a done-callback), so stages that run side by side each get
        their own wall time, not the time `collect` waited for them.
        """
        submitted = time.perf_counter()
        window = f"submitted-{len(self._clocks)}-{submitted}"
        self._memory.open(window)
        future = bound(stage, refresh=self.refresh).submit(*args, **kwargs)
        self._clocks[id(future)] = (submitted, self._end_once(window))
        future.add_done_callback(lambda _: self._clocks_end(future))
        return future

    def _end_once(self, window: str) -> Callable[[], tuple[float, float]]:
        """(end time, peak RSS) of a submitted stage, measured by whichever asks first.

        The task runner's done-callback and `collect` may ask at the same moment from two
        threads: the window is closed once, and both get the same figures.
        """
        lock, ended = threading.Lock(), []

        def end() -> tuple[float, float]:
            with lock:
                if not ended:
                    ended.append((time.perf_counter(), self._memory.close(window)))
            return ended[0]

        return end

    def _clocks_end(self, future: PrefectFuture[Any]) -> None:
        clock = self._clocks.get(id(future))
        if clock is not None:
            clock[1]()

    def collect(self, future: PrefectFuture[R], label: str) -> R:
        """Wait for a submitted stage, record its final state and seconds, return its value."""
        future.wait()
        clock = self._clocks.pop(id(future), None)
        if clock is not None:
            submitted, end = clock
            at, peak = end()
            self.seconds[label] = at - submitted
            self.peak_rss_mib[label] = peak
        state = future.state
        self.states[label] = state.name
        return state.result()

    def cached(self) -> list[str]:
        """The stages whose result came from the cache."""
        return [name for name, state in self.states.items() if state == "Cached"]

    def ran(self) -> list[str]:
        """The stages that computed their result."""
        return [name for name, state in self.states.items() if state != "Cached"]
