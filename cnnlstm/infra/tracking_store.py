"""The local MLflow database: created or upgraded by one process at a time, and verified.

MLflow creates (or upgrades) a SQLite tracking database on a process's first connection, with
no lock: two runs making their first call at once on a new data directory both migrate it, and
one of them fails (`table _alembic_tmp_latest_metrics already exists`) or, worse, leaves the
database half-migrated, so every later run trains for its whole duration and then fails.

`prepare(uri)` is called before the first connection of a process (the command line's start-up
check, `tracking.configure`, the flows' first step): under a file lock beside the database
(`mlflow.db.lock`) it creates the tables when the database is new, then verifies the schema with
the standard library's `sqlite3` (no MLflow import on the common path): a leftover alembic batch
table (`_alembic_tmp_*`) or a schema version other than this MLflow's refuses the store with one
line naming it. A new database whose creation fails midway (a full disk) is removed, not left at
an earlier version. A server or another database is the server's business: nothing is checked.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.files import file_lock

#: Seconds a process waits for another one creating or upgrading the same database.
LOCK_TIMEOUT_S = 600.0

_prepared: set[str] = set()
_guard = threading.Lock()


@dataclass(frozen=True)
class StoreSchema:
    """What a SQLite tracking database holds: its tables and its alembic version."""

    tables: frozenset[str]
    version: str | None

    @property
    def empty(self) -> bool:
        """No MLflow table yet (alembic's own bookkeeping aside)."""
        return all(t.startswith("alembic_") for t in self.tables)

    @property
    def leftovers(self) -> list[str]:
        """Tables an interrupted migration left behind."""
        return sorted(t for t in self.tables if t.startswith("_alembic_tmp_"))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI; None for any other store."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///"))


@lru_cache(maxsize=1)
def schema_head() -> str:
    """The schema version this MLflow's migrations end at (read from its migration files).

    Parsed from the `revision`/`down_revision` lines rather than through alembic's script loader,
    which imports every migration (seconds on a busy machine).
    """
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        raise UserInputError("MLflow is not installed: pass --no-mlflow")
    folder = Path(spec.submodule_search_locations[0]) / "store" / "db_migrations" / "versions"
    revisions, parents = set(), set()
    for script in folder.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        if found := re.search(r'^revision\s*=\s*["\'](\w+)["\']', text, re.M):
            revisions.add(found.group(1))
        if found := re.search(r"^down_revision\s*=\s*(.+)$", text, re.M):
            parents.update(re.findall(r'["\'](\w+)["\']', found.group(1)))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"MLflow's migrations end in {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def read_schema(path: Path) -> StoreSchema:
    """The tables and alembic version of a SQLite database (read-only, waits for writers)."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            version = None
            if "alembic_version" in tables:
                row = db.execute("SELECT version_num FROM alembic_version").fetchone()
                version = row[0] if row else None
    except sqlite3.DatabaseError as err:
        raise UserInputError(
            f"MLflow database {path} cannot be read ({err}): restore it from a backup or move "
            "it aside (a new one is created)"
        ) from None
    return StoreSchema(frozenset(tables), version)


def verify(path: Path) -> StoreSchema:
    """Refuse a database an interrupted migration left behind, or of another schema version.

    Raises:
        UserInputError: one line naming the database, what is wrong and what to do.
    """
    schema = read_schema(path)
    head = schema_head()
    if schema.leftovers:
        raise UserInputError(
            f"MLflow database {path} is half-migrated (leftover table "
            f"{', '.join(schema.leftovers)}; schema version {schema.version}, this MLflow "
            f"expects {head}): restore it from a backup or move it aside (a new one is created)"
        )
    if not schema.empty and schema.version != head:
        raise UserInputError(
            f"MLflow database {path} has schema version {schema.version}, this MLflow expects "
            f"{head}: back it up, then run `mlflow db upgrade sqlite:///{path}` (or move it aside)"
        )
    return schema


def prepare(uri: str) -> None:
    """Create (when new) and verify a local SQLite tracking store, one process at a time.

    Once per process and URI; a non-SQLite URI is left alone.

    Raises:
        UserInputError: the database is half-migrated, of another version, or unreadable.
    """
    path = sqlite_path(uri)
    if path is None or uri in _prepared:
        return
    with _guard:
        if uri in _prepared:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
            if not path.exists():
                _create_new(uri, path)
            elif read_schema(path).empty:
                _create(uri, path)
            verify(path)
        _prepared.add(uri)


#: Loggers that announce each table creation and migration at INFO on a new store: a command's
#: output (one `error:` line for a wrong setting, the first run's screen) is not theirs to fill.
_MIGRATION_LOGGERS = ("mlflow.store.db.utils", "alembic.runtime.migration")


def _create_new(uri: str, path: Path) -> None:
    """`_create` a database that did not exist; a failure (a full disk) leaves none behind.

    A creation stopped midway leaves a database at some earlier schema version, which every
    later run would refuse; the file this process made is removed instead, so the next run
    creates it afresh.
    """
    try:
        _create(uri, path)
    except BaseException:
        for leftover in (path, path.with_name(path.name + "-journal")):
            leftover.unlink(missing_ok=True)
        raise


def _create(uri: str, path: Path) -> None:
    """Let MLflow create its tables (its first connection runs every migration), quietly."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    loggers = [logging.getLogger(name) for name in _MIGRATION_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        SqlAlchemyStore(uri, (path.parent / "mlartifacts").resolve().as_uri())
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def forget() -> None:
    """Forget which stores this process verified (tests that replace a database)."""
    with _guard:
        _prepared.clear()
