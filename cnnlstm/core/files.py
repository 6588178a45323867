"""The project's one atomic file write and one file lock.

An atomic write stages the new content beside its target under a hidden temporary name
(`.<name>.<random>.tmp`), flushes it to disk (`fsync`), then renames it over the target
(`os.replace`, atomic on one file system) and flushes the folder: a reader sees the old file or
the new one, never a torn one, and a crash leaves at most a temporary that the next writer may
remove (`is_temporary`). `stage` and `commit` are the two halves, for a writer that stages
several files and commits them only after another step succeeded; `write_atomic` is both.

A lock is `filelock`'s lock file beside what it guards; `file_lock` builds it (re-entrant in a
process when asked) and `locked` holds it, failing with a `LockTimeoutError` that names what was
locked and the lock file instead of waiting forever.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from cnnlstm.core.errors import UserInputError

#: What `stage` writes: text, bytes, or a writer that fills the temporary path (a frame's
#: `write_parquet`, `numpy.savez`, ...).
Content = str | bytes | Callable[[Path], object]


class LockTimeoutError(UserInputError):
    """Another process held a lock for longer than the caller would wait."""


def temporary_for(path: Path | str) -> Path:
    """A fresh hidden temporary name beside `path` (same folder: the rename stays atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def is_temporary(path: Path | str) -> bool:
    """Whether `path` is named like a staged write (`.<name>.<random>.tmp`)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(".tmp")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (the rename itself); a platform without it is skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the file itself is flushed
    finally:
        os.close(fd)


def stage(path: Path | str, content: Content, *, mode: int | None = None) -> Path:
    """Write `content` to a temporary beside `path`, flushed to disk; returns the temporary.

    Nothing is replaced yet: `commit(tmp, path)` does that. On a failure the temporary is
    removed and the error propagates.
    """
    path = Path(path)
    tmp = temporary_for(path)
    try:
        if isinstance(content, str):
            tmp.write_text(content)
        elif isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            content(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        _fsync_file(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def commit(tmp: Path | str, path: Path | str) -> Path:
    """Rename a staged temporary over `path` and flush the folder; returns `path`."""
    path = Path(path)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def write_atomic(path: Path | str, content: Content, *, mode: int | None = None) -> Path:
    """Replace `path` with `content` atomically (`stage` then `commit`); returns `path`."""
    return commit(stage(path, content, mode=mode), path)


def file_lock(
    path: Path | str, *, timeout: float, reentrant: bool = False
) -> filelock.BaseFileLock:
    """The project's lock on `path` (a lock file, exclusive across processes).

    `reentrant` makes it one object per path in a process, so a holder may take it again.
    """
    return filelock.FileLock(str(path), timeout=timeout, is_singleton=reentrant)


@contextmanager
def locked(path: Path | str, *, timeout: float, what: str) -> Iterator[None]:
    """Hold the lock `path` for the block.

    Raises:
        LockTimeoutError: another process held it for `timeout` seconds (naming `what`).
    """
    lock = file_lock(path, timeout=timeout)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise LockTimeoutError(
            f"{what} is locked by another run for over {timeout:.0f} s (lock file {path})"
        ) from None
    try:
        yield
    finally:
        lock.release()
