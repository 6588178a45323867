"""The temporary Prefect server starts early only when a flow command needs one and none is set."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from cnnlstm.infra import prefect_server


def test_commands_without_flows_start_nothing(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert prefect_server.prestart([]) is None
    assert prefect_server.prestart(["--version"]) is None
    assert prefect_server.prestart(["config", "show"]) is None


def test_a_configured_server_is_used_as_it_is(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert prefect_server.server_configured()
    assert prefect_server.prestart(["backtest", "--profile", "fast"]) is None
    assert prefect_server.prestart(["-v", "walk-forward"]) is None


@pytest.mark.slow  # starts a real temporary Prefect server and runs a flow on it: 10-40 s
def test_the_prestarted_server_is_the_one_the_flow_uses(tmp_path):
    script = textwrap.dedent(
        """
        from cnnlstm.infra.prefect_server import prestart
        started = prestart(["backtest"])
        assert started is not None
        assert started.wait(timeout=170), started.error
        from prefect import flow, get_client
        from prefect.server.api.server import SubprocessASGIServer

        @flow
        def tiny() -> str:
            with get_client(sync_client=True) as client:
                return str(client.api_url)

        used = tiny()
        assert used.rstrip("/") == started.api_url.rstrip("/"), (used, started.api_url)
        assert len(SubprocessASGIServer._instances) == 1  # no second server was started
        print("OK", used)
        """
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") or k == "PREFECT_HOME"
    }
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="170",
        DO_NOT_TRACK="1",
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK http://127.0.0.1:" in done.stdout
