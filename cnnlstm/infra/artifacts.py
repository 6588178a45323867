"""Content-addressed artifacts: what stages write once and pass downstream as small references.

A stage's output (a Parquet table, a model checkpoint, a JSON document, a figure) is written
atomically (a temporary file in the same folder, then a rename) to
`<data_home>/artifacts/<stage>/<fingerprint>.<ext>`, where the fingerprint is the SHA-256 of the
file's bytes. Downstream stages receive an `ArtifactRef` (path + fingerprint + a few facts),
never the frame itself, so Prefect's result store holds kilobytes, not gigabytes.

Artifacts are checked when read: a reference carries the file's size, and `local_path()` (what
every read and every copy to --out goes through) refuses a file whose size or SHA-256 does not
match (`ArtifactCorruptError`, naming the file and the fix); `arrays` are checked by size and,
once loaded, by their content fingerprint. A write whose target already exists keeps it only if
its bytes still match the name; otherwise the new bytes replace it, so `--refresh` heals a
damaged cache. Files are written mode 0644, like the rest of the data directory, so a worker
running as another user can read them.

A stage's cache key (`stage_cache_key`) is built from its inputs' fingerprints, its parameters
(pydantic models dumped as JSON) and its stage version, never from pickled frames: changing any of
those re-runs the stage and, through the new output fingerprint, what follows it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm import __version__
from cnnlstm.core.errors import UserInputError
from cnnlstm.core.files import commit
from cnnlstm.core.paths import data_home

ArtifactKind = Literal["table", "arrays", "checkpoint", "json", "file"]

#: Length of the hex fingerprints (128 bits of SHA-256: collisions are not a practical concern).
FINGERPRINT_CHARS = 32
_CHUNK = 1 << 20


#: Permissions of an artifact file (mkstemp's 0600 would hide it from other users' workers).
FILE_MODE = 0o644


class ArtifactMissingError(UserInputError):
    """A reference points at an artifact file that is gone (the data directory was cleaned)."""


class ArtifactCorruptError(UserInputError):
    """An artifact file's bytes do not match its reference (truncated, edited, disk damage)."""


class ArtifactRef(BaseModel):
    """A small, serializable reference to one artifact file.

    Attributes:
        stage: The stage that wrote it (also its folder under `artifacts/`).
        kind: `table` (Parquet), `arrays` (numpy `.npz`), `checkpoint` (a model file), `json`
            or `file`.
        path: Absolute path of the file.
        fingerprint: SHA-256 (first 32 hex digits) of the file's bytes (of the arrays' names,
            dtypes, shapes and bytes for `arrays`, as zip archives carry timestamps).
        rows: Row count for tables.
        columns: Column names for tables.
        size: The file's size in bytes when written (None in references from before it).
        meta: Small facts worth showing without opening the file (metrics, counts).
    """

    model_config = ConfigDict(frozen=True)

    stage: str
    kind: ArtifactKind
    path: str
    fingerprint: str
    rows: int | None = None
    columns: tuple[str, ...] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    size: int | None = None

    def exists(self) -> bool:
        """Whether the file is still on disk."""
        return Path(self.path).is_file()

    def local_path(self) -> Path:
        """The file's path, checked to exist and to hold the bytes it was written with.

        Raises:
            ArtifactMissingError: The file was deleted after the reference was cached.
            ArtifactCorruptError: Its size or checksum does not match the reference.
        """
        path = Path(self.path)
        if not path.is_file():
            raise ArtifactMissingError(
                f"artifact of stage {self.stage!r} is missing: {path} (fingerprint "
                f"{self.fingerprint}). The data directory was cleaned after the run that cached "
                "it; re-run with refresh=True (`--refresh` on the command line)."
            )
        size = path.stat().st_size
        if self.size is not None and size != self.size:
            raise self._corrupt(f"it holds {size} bytes, not the {self.size} written")
        if self.kind != "arrays":  # arrays: checked by content once loaded (`read_arrays`)
            found = fingerprint_file(path)
            if found != self.fingerprint:
                raise self._corrupt(f"its checksum is {found}")
        return path

    def _corrupt(self, what: str) -> ArtifactCorruptError:
        return ArtifactCorruptError(
            f"artifact of stage {self.stage!r} is damaged: {self.path} ({what}; expected "
            f"fingerprint {self.fingerprint}). Re-run with refresh=True (`--refresh` on the "
            "command line): the recomputed file replaces it (or delete the file)."
        )

    def read_table(self) -> pl.DataFrame:
        """Read a `table` artifact into a polars frame."""
        if self.kind != "table":
            raise TypeError(f"artifact {self.path} is a {self.kind}, not a table")
        return pl.read_parquet(self.local_path())

    def read_arrays(self) -> dict[str, np.ndarray]:
        """Read an `arrays` artifact into a name -> array mapping."""
        if self.kind != "arrays":
            raise TypeError(f"artifact {self.path} is a {self.kind}, not arrays")
        try:
            with np.load(self.local_path(), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise self._corrupt(f"it cannot be read: {err}") from None
        found = fingerprint_arrays(arrays)
        if found != self.fingerprint:
            raise self._corrupt(f"its arrays' fingerprint is {found}")
        return arrays

    def read_json(self) -> Any:
        """Read a `json` artifact."""
        if self.kind != "json":
            raise TypeError(f"artifact {self.path} is a {self.kind}, not JSON")
        return json.loads(self.local_path().read_text())


def artifacts_root() -> Path:
    """The folder that holds every stage's artifacts (`<data_home>/artifacts`)."""
    return data_home() / "artifacts"


def fingerprint_bytes(data: bytes) -> str:
    """The fingerprint of a byte string."""
    return hashlib.sha256(data).hexdigest()[:FINGERPRINT_CHARS]


def fingerprint_file(path: str | Path) -> str:
    """The fingerprint of one file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def fingerprint_input_path(path: str | Path) -> str:
    """A cheap fingerprint of user input files: names, sizes and modification times.

    Used in the ingest stage's cache key so that editing or adding a source file re-ingests,
    without hashing gigabytes of raw data on every run.

    Raises:
        UserInputError: The path does not exist.
    """
    root = Path(path)
    if not root.exists():
        raise UserInputError(f"input path does not exist: {root}")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        rel = file.name if file == root else file.relative_to(root).as_posix()
        digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:FINGERPRINT_CHARS]


@contextmanager
def _atomic_target(stage: str, ext: str) -> Iterator[Path]:
    """Yield a temporary path in the stage folder, removed on exit unless `_commit` renamed it."""
    folder = artifacts_root() / stage
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=f".{ext}", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
    finally:
        if tmp.exists():
            tmp.unlink()


def _commit(tmp: Path, stage: str, ext: str) -> tuple[Path, str]:
    """Rename a finished temporary file to its content address; returns (path, fingerprint).

    An existing file of that name is kept only if its bytes still match the name; a damaged one
    is replaced (so a recomputation heals it).
    """
    fingerprint = fingerprint_file(tmp)
    target = tmp.parent / f"{fingerprint}.{ext}"
    if target.is_file() and fingerprint_file(target) == fingerprint:
        tmp.unlink()  # identical content already stored: keep the first copy
    else:
        os.chmod(tmp, FILE_MODE)
        commit(tmp, target)  # atomic on one file system: readers never see a partial file
    return target, fingerprint


def write_table(
    df: pl.DataFrame, stage: str, *, meta: Mapping[str, Any] | None = None
) -> ArtifactRef:
    """Write a frame as a Parquet artifact of `stage` and return its reference."""
    with _atomic_target(stage, "parquet") as tmp:
        df.write_parquet(tmp, compression="zstd", statistics=True)
        path, fingerprint = _commit(tmp, stage, "parquet")
    return ArtifactRef(
        stage=stage,
        kind="table",
        path=str(path),
        fingerprint=fingerprint,
        rows=df.height,
        columns=tuple(df.columns),
        meta=dict(meta or {}),
        size=path.stat().st_size,
    )


def fingerprint_arrays(arrays: Mapping[str, np.ndarray]) -> str:
    """The fingerprint of named arrays' content (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{arr.dtype.str}\0{arr.shape}\n".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def write_arrays(
    arrays: Mapping[str, np.ndarray], stage: str, *, meta: Mapping[str, Any] | None = None
) -> ArtifactRef:
    """Write named numpy arrays (e.g. LSTM windows) as an uncompressed `.npz` artifact."""
    fingerprint = fingerprint_arrays(arrays)
    folder = artifacts_root() / stage
    target = folder / f"{fingerprint}.npz"
    if not _arrays_intact(target, fingerprint):
        with _atomic_target(stage, "npz") as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
            os.chmod(tmp, FILE_MODE)
            commit(tmp, target)
    first = next(iter(arrays.values()), None)
    return ArtifactRef(
        stage=stage,
        kind="arrays",
        path=str(target),
        fingerprint=fingerprint,
        rows=None if first is None else int(first.shape[0]) if first.ndim else 1,
        columns=tuple(arrays),
        meta=dict(meta or {}),
        size=target.stat().st_size,
    )


def _arrays_intact(path: Path, fingerprint: str) -> bool:
    """Whether an `.npz` file exists and holds the arrays its name says."""
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as archive:
            return fingerprint_arrays({n: archive[n] for n in archive.files}) == fingerprint
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False


def write_json(obj: Any, stage: str, *, meta: Mapping[str, Any] | None = None) -> ArtifactRef:
    """Write a JSON-serializable object (sorted keys, so equal objects share a file)."""
    text = json.dumps(obj, sort_keys=True, indent=1, default=_json_default)
    with _atomic_target(stage, "json") as tmp:
        tmp.write_text(text)
        path, fingerprint = _commit(tmp, stage, "json")
    return ArtifactRef(
        stage=stage,
        kind="json",
        path=str(path),
        fingerprint=fingerprint,
        meta=dict(meta or {}),
        size=path.stat().st_size,
    )


def store_file(
    source: str | Path,
    stage: str,
    *,
    kind: ArtifactKind = "file",
    meta: Mapping[str, Any] | None = None,
) -> ArtifactRef:
    """Copy an existing file (a checkpoint, a figure) into the artifact store."""
    source = Path(source)
    ext = "".join(source.suffixes).lstrip(".") or "bin"
    with _atomic_target(stage, ext) as tmp:
        shutil.copyfile(source, tmp)
        path, fingerprint = _commit(tmp, stage, ext)
    return ArtifactRef(
        stage=stage,
        kind=kind,
        path=str(path),
        fingerprint=fingerprint,
        meta=dict(meta or {}),
        size=path.stat().st_size,
    )


def _json_default(value: Any) -> Any:
    """Serialize the few non-JSON types that stage parameters and summaries hold."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot serialize {type(value).__name__} into an artifact or cache key")


def canonical(value: Any) -> Any:
    """The JSON-ready form of one cache-key input.

    An `ArtifactRef` contributes only its kind and fingerprint (its path differs between data
    directories, its content does not); pydantic models and containers recurse field by field,
    leaving out a model's `RUNTIME_FIELDS` (how it runs, not what it computes).

    Raises:
        TypeError: An input that has no stable textual form (a frame, an open file): stages must
            pass references, not data.
    """
    if isinstance(value, ArtifactRef):
        return {"artifact": value.kind, "fingerprint": value.fingerprint}
    if isinstance(value, BaseModel):
        # field by field, so references nested in a stage's output model count by fingerprint;
        # a model's runtime fields (threads, progress bar, devices) change how, not what
        runtime = getattr(type(value), "RUNTIME_FIELDS", frozenset())
        return {name: canonical(item) for name, item in value if name not in runtime}
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (pl.DataFrame, pl.LazyFrame, pl.Series)):
        raise TypeError("pass an ArtifactRef to a stage, not a polars frame")
    return _json_default(value)


def stage_cache_key(stage: str, version: int | str, inputs: Mapping[str, Any]) -> str:
    """The cache key of one stage call.

    Args:
        stage: Stage name (part of the key, so two stages never share a key).
        version: The stage's version constant: bump it when the stage's logic changes.
        inputs: The call's arguments: artifact references, config models, plain values.

    Returns:
        `<stage>-<hex digest>`, stable across processes and machines for equal inputs.
    """
    payload = {
        "stage": stage,
        "version": str(version),
        "package": __version__,
        "inputs": canonical(dict(inputs)),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return f"{stage}-{hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_CHARS]}"
