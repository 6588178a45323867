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
import sys
import traceback
from datetime import datetime
from pathlib import Path

from cnnlstm.core.errors import UserInputError

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


def print_error(err: UserInputError) -> None:
    """A user or data error as one `error:` block on stderr."""
    text = str(err).strip() or err.__class__.__name__
    first, *rest = text.splitlines()
    print(f"error: {first}", file=sys.stderr)
    for line in rest:
        print(f"  {line}", file=sys.stderr)


def print_internal_error(err: BaseException, log_path: Path) -> None:
    """Append the traceback to the run's log file and print one line saying where it is."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        log.write("".join(traceback.format_exception(err)))
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    print(
        f"internal error: {err.__class__.__name__}: {first} (full log: {log_path})",
        file=sys.stderr,
    )
