"""A new Prefect home's database, copied from a per-user template instead of migrated anew.

Why: the temporary Prefect server creates its SQLite database (`$PREFECT_HOME/prefect.db`) on
its first start by running every Alembic migration Prefect ships and registering its block
types: 15-18 s on a quiet 2-core machine (measured 18-36 s of migrations on a loaded one), paid
by every new Prefect home. An up-to-date empty database is the same file whatever home it is in.

What happens: the temporary server's process (`cnnlstm.infra.prefect_launcher`) calls
`start_template(target)` before it imports Prefect's API. When `target` (the home's database
file) does not exist and no template of this Prefect version is in the user's cache
(`$XDG_CACHE_HOME/cnnlstm/prefect`, default `~/.cache/cnnlstm/prefect`), a builder process
(`python -m cnnlstm.infra.prefect_db BUILD_FOLDER`) migrates an empty database there and
registers the block types, side by side with the launcher's own import; the template is then
written once (a consistent single-file copy, renamed into place under a file lock). When the
command says `go`, `seed(target)` copies the template to `target` unless a database is there
by then (never overwritten); Prefect's start then finds it at the current migration (a check,
not a migration). A command whose inputs are wrong never says `go`: it creates no database in
the Prefect home (the builder is stopped; a template it finished stays for the next run).

Only the stage results and their cache records define what a data home holds
(`<data home>/prefect-results`, `flows/stages/cache.py`); the template holds no flow run, no
task run and no cache record, so two homes seeded from it share nothing but empty tables.
A database other than a local SQLite file (PostgreSQL, a configured server) is left alone.

From Python, flows run inside `cnnlstm.infra.prefect_server.temporary_server()` get the same
seeded server. A flow called outside it starts Prefect's own temporary server
(`SubprocessASGIServer`, also what `prefect_test_harness` starts), whose database is migrated
anew: Prefect's client starts it at the flow's first API call, and its process migrates as it
starts, with no hook in between for a copy (Prefect's plugin start-up hooks run only where the
user has turned plugins on). Copying when `cnnlstm.flows` is imported was not done: the
command line imports flow modules before it has checked its inputs, and a command whose inputs
are wrong must leave no database in the Prefect home.
`CNNLSTM_PREFECT_DB_TEMPLATE=0` turns the template off (Prefect migrates as it always did).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from cnnlstm.core.files import commit, file_lock
from cnnlstm.core.paths import remove_left_by_dead_runs

_SQLITE = "sqlite+aiosqlite:///"


def enabled() -> bool:
    """Whether new Prefect homes are seeded from the template (`CNNLSTM_PREFECT_DB_TEMPLATE`)."""
    return os.environ.get("CNNLSTM_PREFECT_DB_TEMPLATE", "1").strip().lower() not in {
        "0",
        "false",
        "no",
    }


def template_dir() -> Path:
    """The user's folder of templates: `$XDG_CACHE_HOME/cnnlstm/prefect` (`~/.cache/...`)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "cnnlstm" / "prefect"


def template_path() -> Path:
    """The template of the installed Prefect version (its migrations are the version's)."""
    from importlib.metadata import version

    return template_dir() / f"prefect-{version('prefect')}.db"


def sqlite_target(connection_url: str | None) -> Path | None:
    """The database file of a local SQLite connection URL (None for anything else)."""
    if not connection_url or not connection_url.startswith(_SQLITE):
        return None
    rest = connection_url[len(_SQLITE) :]
    if not rest or rest.startswith(":memory:") or "?" in rest or rest.startswith("file:"):
        return None
    return Path(rest)


def start_template(target: Path | None) -> subprocess.Popen[bytes] | None:
    """Start building the template when `target` needs one and none is cached; the builder."""
    if target is None or not enabled() or target.exists() or template_path().exists():
        return None
    folder = template_dir()
    folder.mkdir(parents=True, exist_ok=True)
    remove_left_by_dead_runs(folder, ".building-*")
    return subprocess.Popen(
        [sys.executable, "-m", "cnnlstm.infra.prefect_db", str(template_path())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_builder(builder: subprocess.Popen[bytes] | None) -> None:
    """End a builder that is no longer wanted (the command's inputs were wrong)."""
    if builder is not None and builder.poll() is None:
        builder.terminate()
        builder.wait()


def seed(target: Path | None, builder: subprocess.Popen[bytes] | None = None) -> bool:
    """Copy the template to `target` unless a database is there; True when it was copied.

    Waits for `builder` first. Never overwrites: the copy is linked into place, and a database
    that appeared meanwhile (another command's server) wins.
    """
    if builder is not None:
        builder.wait()
    template = template_path()
    if target is None or not enabled() or target.exists() or not template.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.seed-{os.getpid()}")
    try:
        shutil.copyfile(template, tmp)
        os.link(tmp, target)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def build_template(template: Path) -> None:
    """Migrate an empty database and register the block types; write it as `template`.

    Runs in its own process (Prefect caches its database configuration per process), with the
    connection URL pointed at a building folder named after the process; the result is copied
    as one consistent file (SQLite's backup: no write-ahead log beside it) and renamed into
    place under a lock, so readers see a whole template or none.
    """
    folder = template.parent / f".building-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with file_lock(str(template) + ".lock", timeout=600):
            if template.exists():
                return
            built = folder / "prefect.db"
            os.environ["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"{_SQLITE}{built}"
            asyncio.run(_migrate_and_register())
            copy = folder / "template.db"
            source, dest = sqlite3.connect(built), sqlite3.connect(copy)
            try:
                source.backup(dest)
                dest.execute("pragma journal_mode=delete")  # one file: no log beside it
            finally:
                source.close()
                dest.close()
            commit(copy, template)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _migrate_and_register() -> None:
    from prefect.server.database import provide_database_interface
    from prefect.server.models.block_registration import run_block_auto_registration

    db = provide_database_interface()
    await db.create_db()
    session = await db.session()
    async with session:
        await run_block_auto_registration(session=session)
    await (await db.engine()).dispose()


def _exit_with_parent() -> None:
    """End this builder when the process that started it is gone (killed mid-import)."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    _exit_with_parent()
    build_template(Path(sys.argv[1]))
