"""Checks a command makes before any server starts: sources, benchmark, output, tracking.

A flow run starts Prefect's temporary server (seconds) and trains networks (minutes) before
it reads a path or talks to MLflow; these checks take milliseconds and turn the common
mistakes (a wrong path, a dead tracking server, an `--out` that is a symbolic link) into one
`error:` line before anything starts.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from cnnlstm.core.errors import UserInputError

#: Seconds to wait for an MLflow server's health answer.
TRACKING_TIMEOUT_S = 3.0


def check_data(data) -> None:
    """The source and benchmark specs parse and their files exist (online sources: parse only).

    Raises:
        UserInputError: a bad spec or a path that does not exist.
    """
    from cnnlstm.flows.stages.data import input_fingerprint

    for role, spec in (("--source", data.source), ("--benchmark", data.benchmark)):
        if spec is None:
            continue
        # the benchmark is checked in its own role: its spec may carry a #SYMBOL
        only = {"benchmark": None} if role == "--source" else {}
        try:
            input_fingerprint(data.model_copy(update=only))
        except UserInputError as err:
            raise UserInputError(f"{role} {spec}: {err}") from None


def check_specs(source: str | None, benchmark: str | None) -> None:
    """Before any heavy import: the specs parse and the paths they name exist.

    Raises:
        UserInputError: a bad spec or a path that does not exist.
    """
    from cnnlstm.tasks.data.sources.spec import parse_spec

    for role, spec in (("--source", source), ("--benchmark", benchmark)):
        if spec is None:
            continue
        try:
            parsed = parse_spec(str(spec), allow_symbol=role == "--benchmark")
        except UserInputError as err:
            raise UserInputError(f"{role} {spec}: {err}") from None
        online = parsed.kind.endswith("-online") or parsed.kind == "yfinance"
        if parsed.kind == "sim" or online:
            continue
        if not Path(parsed.path).expanduser().exists():
            raise UserInputError(f"{role} {spec}: input path does not exist: {parsed.path}")


def check_tracking(enabled: bool) -> str | None:
    """The tracking store answers (a server) or can be written (a local database).

    Returns:
        The tracking URI, or None when tracking is off.

    Raises:
        UserInputError: a server that does not answer within `TRACKING_TIMEOUT_S`, or a local
            store whose folder cannot be written or whose database is half-migrated.
    """
    if not enabled:
        return None
    from cnnlstm.infra.tracking import tracking_uri

    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        health = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(health, timeout=TRACKING_TIMEOUT_S) as answer:  # noqa: S310
                if answer.status >= 400:
                    raise OSError(f"HTTP {answer.status}")
        except (OSError, urllib.error.URLError) as err:
            reason = getattr(err, "reason", err)
            raise UserInputError(
                f"MLflow tracking server {uri} does not answer ({reason}): start it, point "
                "MLFLOW_TRACKING_URI at a running one, unset it to log to the local database, "
                "or pass --no-mlflow"
            ) from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not (folder.is_dir() and os.access(folder, os.W_OK)):
            raise UserInputError(f"MLflow database folder {folder} is not a writable folder")
        from cnnlstm.infra.tracking_store import prepare

        prepare(uri)  # created by one process at a time; a half-migrated one refused now
    return uri
