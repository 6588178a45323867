"""A promotion without credentials (or with a read-only user) is refused by a real MLflow
server running the basic-auth app on loopback, as docker/compose.yaml runs it."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from support import stop_process

from cnnlstm.cli.main import main
from cnnlstm.infra import tracking

pytestmark = [
    pytest.mark.slow,  # the auth server takes 10-60 s to start on a busy 2-core machine
    pytest.mark.server,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]
MLFLOW = str(Path(sys.executable).parent / "mlflow")
DOCKER_INI = Path(__file__).resolve().parents[3] / "docker" / "mlflow" / "basic_auth.ini"
ADMIN = ("admin", "an-admin-password-for-tests")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_admin(url: str, payload: dict) -> None:
    token = base64.b64encode(":".join(ADMIN).encode()).decode()
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    urllib.request.urlopen(request, timeout=30).close()


@pytest.fixture()
def auth_server(tmp_path):
    pytest.importorskip("flask_wtf", reason="the basic-auth app needs the `auth` extra")
    ini = tmp_path / "basic_auth.ini"  # compose's file, with the auth store in tmp_path
    ini.write_text(
        DOCKER_INI.read_text().replace("sqlite:////mlflow-auth/", f"sqlite:///{tmp_path}/")
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN[0],
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "a-secret-key-for-tests",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [MLFLOW, "server", "--app-name", "basic-auth",
             "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
             "--artifacts-destination", str(tmp_path / "artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
            start_new_session=True,  # stop_process ends its uvicorn children too
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=5).close()
                break
            except OSError:
                assert server.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "mlflow auth server did not start"
                time.sleep(1)
        yield url
    finally:
        stop_process(server)
        shutil.rmtree(tmp_path / "artifacts", ignore_errors=True)


def test_an_unauthenticated_promotion_is_refused(auth_server, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_server)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
    client = MlflowClient(auth_server)
    experiment = client.create_experiment("t-auth")
    run = client.create_run(experiment)
    client.create_registered_model("t-auth-cnn")
    version = client.create_model_version("t-auth-cnn", run.info.artifact_uri, run.info.run_id)
    _as_admin(
        f"{auth_server}/api/2.0/mlflow/users/create",
        {"username": "viewer", "password": "a-viewer-password"},
    )

    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    with pytest.raises(MlflowException, match="not authenticated|401"):
        tracking.promote("t-auth-cnn", version.version)
    assert main(["promote", "t-auth-cnn", version.version]) == 2
    assert "cannot promote" in capsys.readouterr().err

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "viewer")  # READ permission only
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "a-viewer-password")
    with pytest.raises(MlflowException, match="(?i)permission|403"):
        tracking.promote("t-auth-cnn", version.version)
    assert tracking.alias_version("t-auth-cnn") is None  # nothing moved

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN[1])
    tracking.promote("t-auth-cnn", version.version)
    assert tracking.alias_version("t-auth-cnn").version == version.version


def test_missing_credentials_give_one_error_line_without_the_password(
    auth_server, monkeypatch, capsys
):
    host = auth_server.removeprefix("http://")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://nobody:a-leaked-password@{host}")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    code = main(["compare", "--experiment", "cnnlstm-backtest"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: the MLflow server") and "internal error" not in err
    assert "MLFLOW_TRACKING_USERNAME" in err and "a-leaked-password" not in err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_server)
    assert main(["compare", "--experiment", "cnnlstm-backtest"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(no credentials given)" in err, err
