"""The store's manifest: a checksum of every file it holds, verified before a file is read.

`<store>/manifest.json` maps each stored Parquet file (path relative to the store) to its
BLAKE2b-128 digest. The digests are taken from the temporary files a commit writes and become
the manifest in the same journaled commit as the files themselves (`store._commit`), so a
manifest always describes the files beside it. A read hashes each file it is about to open
(BLAKE2b, cheap beside decoding it) and a file whose bytes differ from its digest, or
that does not parse, fails with one line naming it and how to rebuild it; nothing reads back
silently with other values (a flipped byte in a volume column passes every schema check).

A store written before checksums has files without a digest: they are read as before (and
`verify` reports them unrecorded) until the next write of their year records them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.files import write_atomic

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


class StoreDamagedError(UserInputError):
    """A stored file's bytes differ from its checksum or do not parse; `path` names it."""

    def __init__(self, message: str, path: Path):
        super().__init__(message)
        self.path = path


def digest(path: Path) -> str:
    """BLAKE2b-128 of a file's bytes, hex."""
    hasher = hashlib.blake2b(digest_size=16)
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def manifest_path(store: Path) -> Path:
    """Where the store keeps its checksums."""
    return Path(store) / MANIFEST


def read_manifest(store: Path) -> dict:
    """The manifest (`{"files": {relative path: digest}, "source": spec | None}`)."""
    path = manifest_path(store)
    if not path.exists():
        return {"files": {}, "source": None}
    try:
        found = json.loads(path.read_text())
        files = found["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserInputError(
            f"store manifest {path} is unreadable: move it aside and run `cnnlstm store "
            f"verify --store {store}` (files without a checksum are reported, not refused)"
        ) from None
    return {"files": dict(files), "source": found.get("source")}


def write_manifest(store: Path, manifest: dict) -> None:
    """Replace the manifest atomically (the store's lock held)."""
    path = manifest_path(store)
    body = {"files": dict(sorted(manifest["files"].items())), "source": manifest.get("source")}
    write_atomic(path, json.dumps(body, indent=1) + "\n")


def relative(store: Path, path: Path) -> str:
    """A file's key in the manifest: its path relative to the store, with forward slashes."""
    return Path(path).resolve().relative_to(Path(store).resolve()).as_posix()


def rebuild_hint(store: Path, source: str | None) -> str:
    """The commands that rebuild a damaged file from the source."""
    ingest = f"cnnlstm ingest --source {source or 'SOURCE'} --store {store}"
    return (
        f"run `cnnlstm store verify --store {store} --drop-damaged`, then `{ingest}` (or the "
        "backtest) to rebuild it from the source"
    )


def damaged(store: Path, path: Path, why: str, source: str | None = None) -> StoreDamagedError:
    """The one-line error for a damaged store file."""
    return StoreDamagedError(
        f"store file {path} is damaged ({why}): {rebuild_hint(store, source)}", Path(path)
    )


def check_files(store: Path, files: list[Path]) -> list[Path]:
    """Verify `files` against the manifest before they are read; returns them.

    Raises:
        StoreDamagedError: a file's bytes differ from its recorded checksum.
    """
    manifest = read_manifest(store)
    for path in files:
        want = manifest["files"].get(relative(store, path))
        if want is None:
            continue  # written before checksums: read as before
        try:
            have = digest(path)
        except OSError as err:
            raise damaged(store, path, f"unreadable: {err}", manifest["source"]) from None
        if have != want:
            why = f"checksum {have} differs from the manifest's {want}"
            raise damaged(store, path, why, manifest["source"])
    return files


@dataclass
class StoreCheck:
    """What `verify_store` found, file by file."""

    ok: list[str] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)  # relative path -> why
    missing: list[str] = field(default_factory=list)  # in the manifest, not on disk
    unrecorded: list[str] = field(default_factory=list)  # on disk, no checksum yet

    @property
    def clean(self) -> bool:
        """Nothing damaged or missing."""
        return not self.damaged and not self.missing


def stored_files(store: Path) -> list[Path]:
    """The store's data files: the year files and the benchmark."""
    files = sorted((Path(store) / "bars").glob("year=*.parquet"))
    bench = Path(store) / "benchmark.parquet"
    return files + ([bench] if bench.exists() else [])


def parse_error(path: Path) -> str | None:
    """Why a Parquet file does not decode in full (None when it does); a Rust panic included."""
    import polars as pl

    try:
        pl.read_parquet(path)
    except (Exception, pl.exceptions.PanicException) as err:  # noqa: BLE001 - reported
        first = (str(err).strip().splitlines() or [""])[0]
        return f"does not parse: {type(err).__name__}: {first}"[:300]
    return None


def check_store(store: Path) -> StoreCheck:
    """Every data file of the store against its checksum, and decoded in full."""
    store = Path(store)
    manifest = read_manifest(store)
    found = StoreCheck()
    on_disk = {relative(store, p): p for p in stored_files(store)}
    for rel, path in on_disk.items():
        want = manifest["files"].get(rel)
        have = digest(path)
        if want is not None and have != want:
            found.damaged[rel] = f"checksum {have} differs from the manifest's {want}"
        elif why := parse_error(path):
            found.damaged[rel] = why
        elif want is None:
            found.unrecorded.append(rel)
        else:
            found.ok.append(rel)
    found.missing = sorted(set(manifest["files"]) - set(on_disk))
    return found
