"""The command line's environment: telemetry off, writes under the data home, a quiet console.

Called once by `cnnlstm.cli.main` before any library is imported:

- Telemetry: MLflow's usage telemetry (`MLFLOW_DISABLE_TELEMETRY=true`; MLflow 3.17 honours
  `DO_NOT_TRACK=true` but not `DO_NOT_TRACK=1`) and Prefect's analytics
  (`PREFECT_SERVER_ANALYTICS_ENABLED=false`) are off unless the user set those variables.
- Scratch: temporary files (`TMPDIR`, where Lightning and the stages put scratch folders) live
  under `<data home>/tmp`; what a killed run left there is removed on the next start. numba's
  compiled kernels (`NUMBA_CACHE_DIR`) are cached per user and shared by every data home
  (`numba_cache`), never in the source tree or /tmp.
- Console (without `-v`): Prefect's own records (state changes, task tracebacks: the command
  prints the error itself), Lightning's banners and tips ("GPU available", "💡 Tip") and the
  known deprecation warnings of our libraries stay off the console. Everything still goes to the
  run's log file, `<data home>/logs/cli-<time>.log`.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from cnnlstm.core.paths import remove_left_by_dead_runs
from cnnlstm.infra import runtime

#: Known, harmless warnings of the libraries (message regex, module regex); never a blanket
#: filter. Lightning's are the runtime's (`cnnlstm.infra.runtime.quiet_lightning`).
KNOWN_WARNINGS = (
    *runtime.LIGHTNING_WARNINGS,
    (r".*datetime\.datetime\.utcnow\(\) is deprecated.*", r"(mlflow|sqlalchemy|alembic)\..*"),
    (r".*Support for class-based `config` is deprecated.*", r"pydantic\..*"),
    (r".*Filesystem tracking backend.*is deprecated.*", r"mlflow\..*"),
)

#: Loggers whose INFO lines are banners and tips, not results.
NOISY_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning", "alembic", "mlflow")


def telemetry_off() -> None:
    """Turn MLflow's and Prefect's telemetry off unless the user set the variables."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if os.environ.get("DO_NOT_TRACK", "").strip() in ("", "1"):
        os.environ["DO_NOT_TRACK"] = "true"  # MLflow 3.17 reads "true" only
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def numba_cache(home: Path) -> Path:
    """Where numba keeps the compiled backtest kernels: the user's cache, else under `home`.

    Compiled code belongs to the installation (the engine's source and this machine's CPU),
    not to a data set, so every data home shares one cache: `$XDG_CACHE_HOME/cnnlstm/numba`
    (default `~/.cache/cnnlstm/numba`, numba's own choice of place for installations it cannot
    write into). A fresh data home then starts with the kernels compiled (10-20 s of a cold run
    on 2 cores). Where that folder cannot be created, `<home>/cache/numba`.
    """
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    user = (Path(base) if base else Path.home() / ".cache") / "cnnlstm" / "numba"
    try:
        user.mkdir(parents=True, exist_ok=True)
        if os.access(user, os.W_OK):
            return user
    except OSError:
        pass
    fallback = home / "cache" / "numba"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def scratch_under(home: Path) -> Path:
    """Point numba at its cache (`numba_cache`), temporary files under `home`; clear leftovers."""
    os.environ.setdefault("NUMBA_CACHE_DIR", str(numba_cache(home)))
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    remove_left_by_dead_runs(tmp, "run-*")
    run_tmp = tmp / f"run-{os.getpid()}"
    run_tmp.mkdir(exist_ok=True)
    os.environ["TMPDIR"] = str(run_tmp)
    import tempfile

    tempfile.tempdir = None  # re-read TMPDIR
    return run_tmp


def remove_scratch(run_tmp: Path) -> None:
    """Remove this run's scratch folder."""
    shutil.rmtree(run_tmp, ignore_errors=True)


def quiet_warnings() -> None:
    """Ignore the known library warnings (by message and module)."""
    for message, module in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)
    runtime.quiet_lightning()


class _ConsoleFilter(logging.Filter):
    """Keeps library records off the console (they still reach the log file)."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name.startswith(("prefect", "uvicorn", "fastapi", "httpx")):
            return False
        if name.startswith(NOISY_LOGGERS):
            return record.levelno >= logging.ERROR
        return record.levelno >= logging.WARNING or name.startswith("cnnlstm")


def log_file(home: Path) -> Path:
    """This run's log file under `<home>/logs`."""
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"cli-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"


def nothing_to_undo() -> None:
    """The undo of a console not configured yet."""


def quiet_server(verbose: int) -> None:
    """Quiet the temporary Prefect server's console (unless `verbose`): set before it starts."""
    if not verbose:
        # the temporary server is a subprocess with its own console: its shutdown races
        # ("Error flushing events", CancelledError tracebacks) are not the user's business
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")


def configure_console(verbose: int, log_path: Path) -> Callable[[], None]:
    """Quiet console (unless `verbose`), everything into `log_path`; returns the undo.

    Call after Prefect is imported (it installs its console handler on the root logger).
    """
    quiet_server(verbose)
    import prefect  # noqa: F401 - installs Prefect's logging configuration first

    root = logging.getLogger()
    file_handler = logging.FileHandler(log_path, encoding="utf-8", delay=True)
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    root.addHandler(file_handler)
    logging.captureWarnings(True)
    runtime.quiet_lightning()  # Lightning's banners: into the log file, not the console
    logging.getLogger("cnnlstm").setLevel(logging.INFO)
    if not verbose:
        # MLflow installs its own console handler when imported (later, inside the flow): its
        # warnings about model signatures and the like are the platform's to fix, not the user's
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
        # nor its per-file "Downloading artifacts" bars when a model is logged and checked
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    console_filter = _ConsoleFilter()
    filtered = [] if verbose else [h for h in root.handlers if h is not file_handler]
    for handler in filtered:
        handler.addFilter(console_filter)

    def undo() -> None:
        root.removeHandler(file_handler)
        file_handler.close()
        for handler in filtered:
            # Prefect's own console handler keeps the filter: the temporary server's atexit
            # "Stopping temporary server" line comes after the command returned
            if type(handler).__name__ != "PrefectConsoleHandler":
                handler.removeFilter(console_filter)
        logging.captureWarnings(False)

    return undo
