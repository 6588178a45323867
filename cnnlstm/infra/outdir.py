"""Safe writes into a run's output folder (`--out`).

- Nothing is written through a symbolic link: an `--out` that is a link, or holds a link where a
  file would be written, is refused with the link named (a planted link would otherwise have
  its target overwritten).
- A new `--out` appears atomically: the files are written into a hidden sibling folder that is
  renamed into place once complete, so a failed run leaves no half-written folder behind. Into
  an existing folder each file is replaced atomically (`os.replace`), never truncated in place.
- Files are world-readable (0644) whatever the process umask, like the rest of the results.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.files import commit
from cnnlstm.core.paths import remove_left_by_dead_runs

FILE_MODE = 0o644
DIR_MODE = 0o755


def check_out_dir(out: str | Path) -> Path:
    """The absolute output folder after refusing what cannot be written safely.

    Raises:
        UserInputError: `out` is a symbolic link, a file, holds a symbolic link, or its parent
            cannot be created.
    """
    path = Path(out).expanduser()
    absolute = Path(os.path.abspath(path))
    if absolute.is_symlink():
        raise UserInputError(
            f"--out {out}: is a symbolic link (to {os.readlink(absolute)}); refusing to write "
            "through it: give a real folder"
        )
    if absolute.exists() and not absolute.is_dir():
        raise UserInputError(f"--out {out}: exists and is not a folder")
    if absolute.is_dir():
        for entry in sorted(absolute.rglob("*")):
            if entry.is_symlink():
                raise UserInputError(
                    f"--out {out}: holds a symbolic link {entry} (to {os.readlink(entry)}); "
                    "refusing to write through it: remove the link or use another folder"
                )
    parent = absolute.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserInputError(f"--out {out}: cannot create {parent}: {err.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise UserInputError(f"--out {out}: {parent} is not writable")
    return absolute


@contextmanager
def staged_out_dir(out: str | Path) -> Iterator[Path]:
    """Yield a private folder to write the run's files into; publish it as `out` on success.

    A new `out` is the staged folder renamed into place (atomic); an existing one receives each
    staged file by `os.replace`. On an exception the staged folder is removed and `out` is left
    as it was.

    Raises:
        UserInputError: see `check_out_dir` (checked again when publishing).
    """
    final = check_out_dir(out)
    staging = final.parent / f".{final.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=DIR_MODE)
    try:
        yield staging
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, out: str | Path) -> None:
    final = check_out_dir(out)
    for root, dirs, files in os.walk(staging):
        for name in dirs:
            os.chmod(Path(root) / name, DIR_MODE)
        for name in files:
            os.chmod(Path(root) / name, FILE_MODE)
    os.chmod(staging, DIR_MODE)
    try:
        os.rename(staging, final)  # a new folder: atomic
        return
    except OSError:
        if not final.is_dir():
            raise
    for source in sorted(staging.rglob("*")):
        target = final / source.relative_to(staging)
        if source.is_dir():
            target.mkdir(mode=DIR_MODE, exist_ok=True)
        else:
            target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            commit(source, target)  # replaces a link itself, never writes through it


def clean_stale(parent: Path) -> None:
    """Remove staging folders left in `parent` by runs that were killed."""
    remove_left_by_dead_runs(parent, ".*.partial-*")
