"""A research flow's first step: its settings and the inputs they name, checked in a blink.

A deployment's form checks each field against the parameter model's JSON schema; what spans
fields (the training period before the test, a source kind the project reads, a path that
exists) it cannot see. Prefect's own validation of the parameters would catch the first two,
but behind a traceback; so the research flows take their parameters unvalidated
(`validate_parameters=False`) and validate them here, as their first step: the parameter
model's messages (each naming its field), the source and benchmark specs, the paths, and a local
MLflow store (created once, a half-migrated or other-version one refused). A problem
ends the run at once with one `error:` line (one log line and the state's message, no
traceback) before anything is read or trained.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from prefect.logging import get_run_logger
from prefect.states import Failed, State
from pydantic import BaseModel, ValidationError

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.params import DataParams, TrackingParams
from cnnlstm.infra.tracking import tracking_uri
from cnnlstm.infra.tracking_store import prepare
from cnnlstm.tasks.data.sources.spec import parse_spec

ONLINE_KINDS = ("akshare-online", "yfinance")
M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], params: M | Mapping[str, Any]) -> M:
    """`params` as `model` (a deployment passes a mapping); one line naming every bad field.

    Raises:
        UserInputError: `invalid settings: protocol: test period starts ...; data.source: ...`.
    """
    if isinstance(params, model):
        return params
    try:
        return model.model_validate(params)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in err.errors()
        )
        raise UserInputError(f"invalid settings: {problems}") from None


def check_inputs(data: DataParams) -> None:
    """The source's and the benchmark's specs parse and the paths they name exist.

    Raises:
        UserInputError: a bad spec, an unknown kind or a missing path, in one line.
    """
    for role, spec in (("data.source", data.source), ("data.benchmark", data.benchmark)):
        if spec is None:
            continue
        parsed = parse_spec(str(spec), allow_symbol=role == "data.benchmark")
        if parsed.kind == "sim" or parsed.kind in ONLINE_KINDS:
            continue
        if not Path(parsed.path).expanduser().exists():
            raise UserInputError(f"{role} {spec}: input path does not exist: {parsed.path}")


def check_tracking(tracking: TrackingParams) -> None:
    """Create or verify the local MLflow store now, before anything is read or trained.

    Raises:
        UserInputError: the store is half-migrated, of another schema version, or unreadable
            (one line naming it; `cnnlstm.infra.tracking_store`).
    """
    if tracking.enabled:
        prepare(tracking_uri())


class InputRefused(UserInputError):
    """A research flow ended its run at its first step: its settings or inputs are wrong."""


#: What Prefect's engine logs, with a traceback, when a flow run it executes ends failed.
ENGINE_FAILURE = "Engine execution exited with unexpected exception"


def _not_a_refusal(record: logging.LogRecord) -> bool:
    """Drop the engine's traceback of a run this module refused (its one line said it all)."""
    error = record.exc_info[1] if record.exc_info else None
    return not (record.getMessage() == ENGINE_FAILURE and isinstance(error, InputRefused))


def refuse(err: UserInputError) -> State:
    """The run's end for bad input: one `error:` log line and a Failed state saying the same.

    A worker's engine re-raises a failed run's exception and logs it with a traceback; for
    this refusal (the `InputRefused` the state carries) that record is dropped, so the run's
    log holds the one line.
    """
    line = " ".join(str(err).split())
    message = f"error: {line}"
    logging.getLogger("prefect.flow_runs").addFilter(_not_a_refusal)  # idempotent
    get_run_logger().error(message)
    return Failed(message=message, data=InputRefused(line))
