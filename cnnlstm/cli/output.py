"""What the commands share about output: `--out`, `-v`, and the `error:` block.

- `--out DIR` (default `out/<run-name>/` in the working directory, `<run-name>` being the
  command and the start time, e.g. `out/backtest-20260112-093015/`) is checked before anything
  runs (`cnnlstm.infra.outdir.check_out_dir`: no symbolic links, a writable parent).
- `-v` shows what the libraries print (Lightning, Prefect's task logs, warnings); by default the
  console holds only the run's own lines.
- `print_error` prints a user or data error as one `error:` block; `print_internal_error` prints
  one line saying where the full traceback went.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.redact import redact_text

DEFAULT_OUT_ROOT = Path("out")


def add_out_argument(parser: argparse.ArgumentParser, *, what: str = "the run's results") -> None:
    """Add `--out DIR` (default `out/<run-name>/`)."""
    parser.add_argument(
        "--out",
        metavar="DIR",
        help=f"where {what} go (default out/<command>-<date>-<time>/)",
    )


def add_verbosity_argument(parser: argparse.ArgumentParser) -> None:
    """Add `-v/--verbose` (repeatable)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show the libraries' output too (Lightning, Prefect task logs, warnings)",
    )


def run_name(command: str, now: datetime | None = None) -> str:
    """`<command>-<YYYYmmdd-HHMMSS>`: the default name of a run's output folder."""
    return f"{command}-{(now or datetime.now()):%Y%m%d-%H%M%S}"


def resolve_out_dir(out: str | None, command: str) -> Path:
    """The checked, absolute output folder: `out`, else `out/<run-name>/` (not created yet).

    Raises:
        UserInputError: the folder cannot be written safely (a symbolic link, a file, ...).
    """
    from cnnlstm.infra.outdir import check_out_dir, clean_stale

    path = Path(out) if out else DEFAULT_OUT_ROOT / run_name(command)
    checked = check_out_dir(path)
    clean_stale(checked.parent)
    return checked


#: How `print_results` labels the files of a run's output folder (glob -> label).
RESULT_FILES = (
    ("report.html", "tear sheet (open in a browser)"),
    ("table2.md", "Table 2"),
    ("metrics.json", "metrics"),
    ("*.png", "figures"),
    ("trades.csv", "ledger (trades)"),
    ("nav.csv", "ledger (daily net values)"),
    ("selection.csv", "CNN selection"),
    ("signals.csv", "LSTM signals"),
    ("stages.csv", "stages (seconds, cache hits, peak memory)"),
    ("config.yaml", "configuration"),
)


def print_results(out: Path, tracked=None) -> None:
    """Print where a run's results are: the folder, its files by kind, and the MLflow run."""
    print(f"results: {out}/")
    shown: set[Path] = set()
    for pattern, label in RESULT_FILES:
        found = sorted(p for p in out.glob(pattern) if p not in shown)
        shown.update(found)
        if found:
            print(f"  {label + ':':30s} {', '.join(p.name for p in found)}")
    others = sorted(p.name for p in out.iterdir() if p not in shown) if out.is_dir() else []
    if others:
        print(f"  {'other files:':30s} {', '.join(others)}")
    if tracked is not None:
        print(f"MLflow run {tracked.run_id}: {mlflow_link(tracked)}")


def mlflow_link(tracked) -> str:
    """The run's link: the configured server's page, or how to open the local store's UI."""
    from cnnlstm.infra.tracking import _is_local_store

    if not _is_local_store(tracked.tracking_uri):
        return tracked.link
    return f"open it with `cnnlstm ui --run {tracked.run_id}` (store {tracked.tracking_uri})"


@contextmanager
def tracking_failure_keeps(out: Path) -> Iterator[None]:
    """Turn an MLflow failure after the results were written into one error naming them."""
    try:
        yield
    except UserInputError:
        raise
    except Exception as err:
        if not (out.is_dir() and any(out.iterdir())) or not _from_mlflow(err):
            raise
        raise UserInputError(
            f"MLflow tracking failed ({err.__class__.__name__}: {str(err).splitlines()[0]}); "
            f"the report and results are written: {out}"
        ) from err


def _from_mlflow(err: BaseException) -> bool:
    for frame, _ in traceback.walk_tb(err.__traceback__):
        if frame.f_globals.get("__name__", "").startswith(("mlflow", "cnnlstm.infra.tracking")):
            return True
    return err.__class__.__module__.startswith("mlflow")


def print_error(err: UserInputError) -> None:
    """A user or data error as one `error:` block on stderr (URL passwords redacted)."""
    text = redact_text(str(err).strip()) or err.__class__.__name__
    first, *rest = text.splitlines()
    print(f"error: {first}", file=sys.stderr)
    for line in rest:
        print(f"  {line}", file=sys.stderr)


def print_internal_error(err: BaseException, log_path: Path) -> None:
    """Append the traceback to the run's log file and print one line saying where it is."""
    first = redact_text(str(err).strip().splitlines()[0]) if str(err).strip() else ""
    where = f"full log: {log_path}"
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a", encoding="utf-8") as log:
            log.write("".join(traceback.format_exception(err)))
    except OSError as log_err:  # a full disk: the original error is still the one reported
        where = f"no log written: {log_err.strerror or log_err}"
    print(f"internal error: {err.__class__.__name__}: {first} ({where})", file=sys.stderr)


#: errno values of a write that found no room (a full disk, an exhausted quota).
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT)
#: How SQLite and polars' Rust I/O report the same without raising an OSError.
_NO_ROOM_TEXT = ("database or disk is full", "No space left on device", "os error 28")


def disk_full(err: BaseException, home: Path) -> UserInputError | None:
    """A write that found the disk full (in `err` or its causes) as a user error; else None.

    SQLite (MLflow's and Prefect's local databases) and polars (a store's Parquet files) report
    it in their own errors rather than as an OSError: their wording is recognized too. The
    message names the data home.
    """
    seen = 0
    while err is not None and seen < 10:
        full = isinstance(err, OSError) and err.errno in _NO_ROOM
        if full or any(text in str(err) for text in _NO_ROOM_TEXT):
            where = f" writing {err.filename}" if getattr(err, "filename", None) else ""
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            return UserInputError(
                f"the disk is full{where} ({first}): free space where the data home is "
                f"({home}) and run again"
            )
        err = err.__cause__ or err.__context__
        seen += 1
    return None


#: What MLflow's server answers a request without (or with wrong) credentials.
_AUTH_CODES = ("UNAUTHENTICATED", "PERMISSION_DENIED")
_AUTH_TEXT = ("not authenticated", "status code 401", "status code 403", "permission")


def tracking_auth_failure(err: BaseException) -> UserInputError | None:
    """An MLflow server's refusal of the credentials (in `err` or its causes) as a user error.

    None when `err` is something else. The message names the variables to set.
    """
    seen = 0
    while err is not None and seen < 10:
        code = str(getattr(err, "error_code", ""))
        text = str(err).lower()
        if type(err).__name__ == "MlflowException" and (
            code in _AUTH_CODES or any(t in text for t in _AUTH_TEXT)
        ):
            uri = redact_text(os.environ.get("MLFLOW_TRACKING_URI", ""))
            who = os.environ.get("MLFLOW_TRACKING_USERNAME")
            return UserInputError(
                f"the MLflow server {uri} refused the request "
                + (f"for user {who!r} " if who else "(no credentials given) ")
                + f"({code or 'unauthenticated'}): set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD to a user with EDIT permission (docs/DEPLOY.md)"
            )
        err = err.__cause__ or err.__context__
        seen += 1
    return None
