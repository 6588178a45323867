"""Prefect's server and MLflow's tracking server on a real PostgreSQL, as docker/compose.yaml runs
them: the test starts its own PostgreSQL cluster on 127.0.0.1 (initdb/pg_ctl from the system's
packages, skipped when absent), then each server against it, and reads the records back from
PostgreSQL itself."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support import stop_process

pytestmark = pytest.mark.server

PG_USER = "cnnlstm"
PG_PASSWORD = "test-pw-1"  # noqa: S105 - a throwaway cluster on loopback
PREFECT_AUTH = "admin:test-api-pw"
ROLE_PASSWORDS = {"prefect": "prefect-pw-2", "mlflow": "mlflow-pw-3"}
INIT_SCRIPT = Path(__file__).resolve().parents[1] / "docker" / "postgres" / "init-databases.sh"
VENV_BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
            "(apt-get install -y postgresql)"
        )
    return Path(found[-1]).parent


def _as_cluster_owner(cmd: list[str]) -> list[str]:
    """Postgres refuses to run as root: run its binaries as the `postgres` user then."""
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and `runuser` is missing: cannot start PostgreSQL")
    return [runuser, "-u", "postgres", "--", *cmd]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def _server(cmd: list[str], env: dict[str, str], health_url: str, log: Path):
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_http(health_url, proc, log)
        yield proc
    finally:
        stop_process(proc, timeout=30)


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL cluster of its own, on 127.0.0.1 and a free port, with password auth."""
    pg_bin = _pg_bin()
    pytest.importorskip("psycopg", reason="the `postgres` extra (psycopg) is needed")
    import psycopg

    # Not under pytest's tmp_path: its parents are private to root, and the cluster runs as the
    # `postgres` user when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="cnnlstm-pg-"))
    data, pwfile = root / "data", root / "pw"
    pwfile.write_text(PG_PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    initdb = [str(pg_bin / "initdb"), "-D", str(data), "-U", PG_USER]
    initdb += ["--pwfile", str(pwfile), "--auth=scram-sha-256", "-E", "UTF8"]
    subprocess.run(_as_cluster_owner(initdb), check=True, capture_output=True)
    opts = f"-h 127.0.0.1 -p {port} -k {root}"
    pg_ctl = [str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(root / "pg.log"), "-o", opts]
    subprocess.run(_as_cluster_owner([*pg_ctl, "-w", "start"]), check=True, capture_output=True)
    try:
        # the databases and roles, made by the script that compose's PostgreSQL runs at init
        init_env = dict(
            os.environ,
            PATH=f"{pg_bin}:{os.environ['PATH']}",
            PGHOST="127.0.0.1",
            PGPORT=str(port),
            PGPASSWORD=PG_PASSWORD,
            POSTGRES_USER=PG_USER,
            PREFECT_DB_PASSWORD=ROLE_PASSWORDS["prefect"],
            MLFLOW_DB_PASSWORD=ROLE_PASSWORDS["mlflow"],
        )
        subprocess.run(["bash", str(INIT_SCRIPT)], env=init_env, check=True, capture_output=True)
        yield {"port": port, "connect": psycopg.connect}
    finally:
        subprocess.run(
            _as_cluster_owner([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def _query(pg: dict, dbname: str, sql: str, args: tuple = ()) -> list[tuple]:
    """Query `dbname` as the role that owns it (the role its server connects as)."""
    conn = pg["connect"](
        host="127.0.0.1",
        port=pg["port"],
        user=dbname,
        password=ROLE_PASSWORDS[dbname],
        dbname=dbname,
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect_home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    return env


FLOW_SCRIPT = textwrap.dedent(
    """
    from prefect import flow, task

    @task
    def double(x: int) -> int:
        return 2 * x

    @flow(name="postgres-backend-probe")
    def probe(n: int) -> int:
        return sum(double.submit(i).result() for i in range(n))

    assert probe(4) == 12
    """
)


def test_prefect_server_records_flow_runs_in_postgres(postgres, tmp_path):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = _base_env(tmp_path)
    server_env = dict(
        env,
        PREFECT_API_DATABASE_CONNECTION_URL=(
            f"postgresql+asyncpg://prefect:{ROLE_PASSWORDS['prefect']}"
            f"@127.0.0.1:{postgres['port']}/prefect"
        ),
        PREFECT_SERVER_API_AUTH_STRING=PREFECT_AUTH,
    )
    cmd = [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1"]
    cmd += ["--port", str(port)]  # with its services: the task-run recorder writes task runs
    with _server(cmd, server_env, f"{api}/health", tmp_path / "prefect.log"):
        # the API is protected: without the auth string a request is refused
        req = urllib.request.Request(f"{api}/flows/filter", data=b"{}", method="POST")
        req.add_header("Content-Type", "application/json")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=10)
        assert refused.value.code == 401

        client_env = dict(env, PREFECT_API_URL=api, PREFECT_API_AUTH_STRING=PREFECT_AUTH)
        run = subprocess.run(
            [sys.executable, "-c", FLOW_SCRIPT],
            env=client_env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert run.returncode == 0, run.stderr[-4000:]
        # task runs arrive as events that the server's recorder service writes: poll briefly
        sql = (
            "SELECT fr.state_type, count(tr.id) FROM flow_run fr JOIN flow f ON f.id = fr.flow_id "
            "LEFT JOIN task_run tr ON tr.flow_run_id = fr.id AND tr.state_type = 'COMPLETED' "
            "WHERE f.name = %s GROUP BY fr.id, fr.state_type"
        )
        deadline = time.monotonic() + 60
        while True:
            rows = _query(postgres, "prefect", sql, ("postgres-backend-probe",))
            if rows == [("COMPLETED", 4)] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert rows == [("COMPLETED", 4)]


def test_mlflow_server_tracks_runs_in_postgres(postgres, tmp_path):
    port = _free_port()
    env = dict(_base_env(tmp_path), MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    backend = f"postgresql://mlflow:{ROLE_PASSWORDS['mlflow']}@127.0.0.1:{postgres['port']}/mlflow"
    cmd = [str(VENV_BIN / "mlflow"), "server", "--backend-store-uri", backend]
    cmd += ["--artifacts-destination", str(tmp_path / "artifacts")]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with _server(cmd, env, f"http://127.0.0.1:{port}/health", tmp_path / "mlflow.log"):
        script = textwrap.dedent(
            f"""
            import mlflow
            mlflow.set_tracking_uri("http://127.0.0.1:{port}")
            mlflow.set_experiment("postgres-backend-probe")
            with mlflow.start_run(run_name="probe") as run:
                mlflow.log_params({{"lr": 0.001, "seed": 7}})
                mlflow.log_metrics({{"sharpe": 1.25}}, step=0)
                mlflow.log_text("selected: 600519", "selection.txt")
            print(run.info.run_id)
            """
        )
        run = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180
        )
        assert run.returncode == 0, run.stderr[-4000:]
        run_id = run.stdout.strip().splitlines()[-1]

    runs = _query(
        postgres,
        "mlflow",
        "SELECT r.status, r.name FROM runs r JOIN experiments e "
        "ON e.experiment_id = r.experiment_id WHERE e.name = %s AND r.run_uuid = %s",
        ("postgres-backend-probe", run_id),
    )
    assert runs == [("FINISHED", "probe")]
    params = dict(
        _query(postgres, "mlflow", "SELECT key, value FROM params WHERE run_uuid = %s", (run_id,))
    )
    assert params == {"lr": "0.001", "seed": "7"}
    metrics = _query(
        postgres, "mlflow", "SELECT key, value FROM metrics WHERE run_uuid = %s", (run_id,)
    )
    assert metrics == [("sharpe", 1.25)]
    # artifacts went to the artifact store, not the database
    stored = list((tmp_path / "artifacts").rglob("selection.txt"))
    assert len(stored) == 1 and stored[0].read_text() == "selected: 600519"
