"""The local MLflow database under concurrency and after an interrupted migration.

Real processes against a real SQLite store: several processes make their first MLflow call at
the same moment on a new database (before the lock, 8 of 8 such trials failed and 2 of 8 left the
store half-migrated), and a half-migrated store is refused with one line before anything runs.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.infra import tracking_store

_FIRST_CALL = """
import os, sys, time
from pathlib import Path
gate = Path(sys.argv[1])
from cnnlstm.infra import tracking
import mlflow  # imported before the gate: the first connections then start together
while not gate.exists():
    time.sleep(0.01)
with tracking.tracked_run("cnnlstm-race") as run:
    mlflow.log_metric("x", 1.0)
print("ok", run.info.run_id)
"""


def _start_together(tmp_path: Path, n: int, uri: str) -> list[subprocess.CompletedProcess]:
    gate = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=uri, CNNLSTM_HOME=str(tmp_path / "home"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _FIRST_CALL, str(gate)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for _ in range(n)
    ]
    time.sleep(15)  # each process imports MLflow, then waits at the gate
    gate.touch()
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


@pytest.mark.slow  # 4 fresh processes importing MLflow: ~30 s on 2 busy cores
@pytest.mark.parametrize("trial", range(3))
def test_four_first_calls_at_once_on_a_new_store_all_succeed(tmp_path, trial):
    db = tmp_path / "mlflow.db"
    done = _start_together(tmp_path, 4, f"sqlite:///{db}")
    for proc in done:
        assert proc.returncode == 0, proc.stderr[-3000:]
    schema = tracking_store.verify(db)  # complete, at this MLflow's head, no leftovers
    assert not schema.leftovers and schema.version == tracking_store.schema_head()
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 4
        assert (
            con.execute("SELECT count(*) FROM experiments WHERE name='cnnlstm-race'").fetchone()[0]
            == 1
        )


@pytest.fixture()
def fresh_store(tmp_path):
    db = tmp_path / "mlflow.db"
    tracking_store.forget()
    tracking_store.prepare(f"sqlite:///{db}")
    tracking_store.forget()
    yield db
    tracking_store.forget()


def test_a_new_store_is_created_at_this_mlflows_schema(fresh_store):
    schema = tracking_store.read_schema(fresh_store)
    assert {"runs", "experiments", "registered_models"} <= schema.tables
    assert schema.version == tracking_store.schema_head()
    assert Path(str(fresh_store) + ".lock").exists()


def test_a_half_migrated_store_is_refused_with_one_line_naming_it(fresh_store):
    with sqlite3.connect(fresh_store) as con:  # what an interrupted batch migration leaves
        con.execute("CREATE TABLE _alembic_tmp_latest_metrics (key VARCHAR(250))")
    with pytest.raises(UserInputError) as caught:
        tracking_store.prepare(f"sqlite:///{fresh_store}")
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert str(fresh_store) in message and "_alembic_tmp_latest_metrics" in message


def test_a_store_behind_this_mlflows_schema_is_refused(fresh_store):
    with sqlite3.connect(fresh_store) as con:
        con.execute("UPDATE alembic_version SET version_num = '0a8213491aaa'")
    with pytest.raises(UserInputError, match="mlflow db upgrade") as caught:
        tracking_store.prepare(f"sqlite:///{fresh_store}")
    assert "0a8213491aaa" in str(caught.value) and str(fresh_store) in str(caught.value)


def test_a_store_that_is_not_a_database_is_refused(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"not a database at all" * 100)
    tracking_store.forget()
    with pytest.raises(UserInputError, match="cannot be read"):
        tracking_store.prepare(f"sqlite:///{db}")


def test_other_stores_are_left_alone():
    tracking_store.prepare("http://127.0.0.1:1")  # a server: its own business, nothing checked
    assert tracking_store.sqlite_path("postgresql://u@h/db") is None
