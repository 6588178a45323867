"""A new Prefect home's database is a copy of the user's migrated template, never migrated anew."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cnnlstm.infra import prefect_db, prefect_server


def test_only_a_local_sqlite_file_is_seeded():
    assert prefect_db.sqlite_target("sqlite+aiosqlite:////home/me/.prefect/prefect.db") == Path(
        "/home/me/.prefect/prefect.db"
    )
    assert prefect_db.sqlite_target("postgresql+asyncpg://u:p@db/prefect") is None
    assert prefect_db.sqlite_target("sqlite+aiosqlite:///:memory:") is None
    assert prefect_db.sqlite_target(None) is None


def _env(tmp_path: Path, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / home),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="250",
        DO_NOT_TRACK="1",
    )
    return env


SERVE = """
    from cnnlstm.infra.prefect_server import Prestart
    server = Prestart()
    assert server.wait(), server.error
    server.stop()
    print("SERVED")
    """


def _serve(tmp_path: Path, home: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SERVE)],
        env=_env(tmp_path, home), capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert "SERVED" in done.stdout, done.stderr[-3000:]


def _tables(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("select name from sqlite_master where type = 'table'").fetchall()
    finally:
        con.close()
    return {name for (name,) in rows}


@pytest.mark.slow  # starts the temporary Prefect server three times: 30 s to minutes
def test_a_new_prefect_home_gets_the_template_and_an_existing_one_keeps_its_database(tmp_path):
    _serve(tmp_path, "first")  # no template yet: the launcher builds it beside its import
    templates = list((tmp_path / "cache" / "cnnlstm" / "prefect").glob("prefect-*.db"))
    assert len(templates) == 1 and "alembic_version" in _tables(templates[0])
    assert not Path(f"{templates[0]}-wal").exists()  # one file, whole: safe to copy
    assert (tmp_path / "first" / "prefect.db").exists()
    con = sqlite3.connect(templates[0])  # mark the template: a copy carries the mark
    con.execute("create table seeded_from_template (x int)")
    con.close()
    _serve(tmp_path, "second")
    assert "seeded_from_template" in _tables(tmp_path / "second" / "prefect.db")  # copied
    _serve(tmp_path, "first")  # an existing database is never replaced by the template
    assert "seeded_from_template" not in _tables(tmp_path / "first" / "prefect.db")
    assert not list((tmp_path / "cache" / "cnnlstm" / "prefect").glob(".building-*"))


def test_a_command_with_wrong_inputs_gets_no_database_even_with_a_template(tmp_path):
    template_dir = tmp_path / "cache" / "cnnlstm" / "prefect"
    template_dir.mkdir(parents=True)
    env = _env(tmp_path, "prefect")
    script = "from cnnlstm.infra import prefect_db; print(prefect_db.template_path())"
    path = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    sqlite3.connect(path).close()  # a template is there: nothing to build
    done = subprocess.run(
        prefect_server.launcher_command(9), env=env, input=b"", capture_output=True, timeout=300
    )  # the input ends before `go`, as when the command's checks fail
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "prefect" / "prefect.db").exists()


FLOW_FROM_PYTHON = """
    from prefect import flow
    from cnnlstm.infra.prefect_server import temporary_server

    @flow
    def one() -> int:
        return 1

    with temporary_server() as url:
        assert url is not None and one() == 1
    print("RAN", url)
    """


@pytest.mark.slow  # starts the temporary Prefect server once (Prefect migrates the marked copy)
def test_a_flow_called_from_python_in_temporary_server_gets_the_template(tmp_path):
    env = _env(tmp_path, "prefect")
    script = "from cnnlstm.infra import prefect_db; print(prefect_db.template_path())"
    path = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    Path(path).parent.mkdir(parents=True)
    con = sqlite3.connect(path)  # a marked template: Prefect migrates on top, the mark stays
    con.execute("create table seeded_from_template (x int)")
    con.close()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FLOW_FROM_PYTHON)],
        env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert "RAN http://127.0.0.1:" in done.stdout, done.stderr[-3000:]
    assert "seeded_from_template" in _tables(tmp_path / "prefect" / "prefect.db")
