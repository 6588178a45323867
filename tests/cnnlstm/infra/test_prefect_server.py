"""The temporary Prefect server starts early only when a flow command needs one and none is set."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from cnnlstm.infra import prefect_server
from cnnlstm.infra.prefect_launcher import CONFIGURED


def test_commands_without_flows_start_nothing(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert prefect_server.prestart([]) is None
    assert prefect_server.prestart(["--version"]) is None
    assert prefect_server.prestart(["config", "show"]) is None


def test_a_configured_server_is_used_as_it_is(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert prefect_server.prestart(["backtest", "--profile", "fast"]) is None
    assert prefect_server.prestart(["-v", "walk-forward"]) is None


def _clean_env(tmp_path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") or k == "PREFECT_HOME"
    }
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="170",
        DO_NOT_TRACK="1",
    )
    return env


def _run_script(tmp_path, script: str, timeout: float) -> subprocess.CompletedProcess:
    """Run `script` (dedented) in a fresh interpreter with a clean Prefect environment."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_launcher_serves_nothing_when_a_server_is_configured(tmp_path):
    env = {**_clean_env(tmp_path), "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    done = subprocess.run(
        prefect_server.launcher_command(9),
        env=env,
        input=b"go\n",
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == CONFIGURED, done.stderr[-2000:]
    assert not (tmp_path / "prefect" / "prefect.db").exists()


def test_a_cancelled_prestart_ends_before_opening_any_database(tmp_path):
    """Wrong inputs: the launcher was started, then told to stop before it served."""
    script = """
        import time
        from cnnlstm.infra import prefect_server
        started = prefect_server.prestart(["backtest"])
        process = started.process
        time.sleep(1.0)  # the launcher is importing Prefect's API
        began = time.perf_counter()
        prefect_server.cancel()
        took = time.perf_counter() - began
        assert process.poll() is not None, "still running"
        assert took < 0.5, f"cancel waited {took:.2f} s for an import nobody needs"
        assert prefect_server.prestart(["config"]) is None
        print("OK", process.returncode)
        """
    done = _run_script(tmp_path, script, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK" in done.stdout
    assert not (tmp_path / "prefect" / "prefect.db").exists()  # it never served


@pytest.mark.slow  # starts a real temporary Prefect server and runs a flow on it: 10-40 s
def test_the_prestarted_server_is_the_one_the_flow_uses(tmp_path):
    script = """
        from cnnlstm.infra import prefect_server
        started = prefect_server.prestart(["backtest"])
        assert started is not None
        prefect_server.release()
        from prefect import flow, get_client
        from prefect.server.api.server import SubprocessASGIServer

        @flow
        def tiny() -> str:
            with get_client(sync_client=True) as client:
                return str(client.api_url)

        with prefect_server.prefect_api(timeout=170) as url:
            assert url is not None, started.error
            used = tiny()
        assert used.rstrip("/") == url.rstrip("/"), (used, url)
        assert not SubprocessASGIServer._instances  # Prefect started no server of its own
        process = started.process
        started.stop()
        assert process.poll() is not None
        print("OK", used)
        """
    done = _run_script(tmp_path, script, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK http://127.0.0.1:" in done.stdout
    assert (tmp_path / "prefect" / "prefect.db").exists()  # the served server's database


@pytest.mark.slow  # starts a real temporary Prefect server: 10-40 s
def test_a_killed_command_leaves_no_server_behind(tmp_path):
    """The command dies without running its exit handlers: the server stops by itself."""
    script = """
        import os
        from cnnlstm.infra import prefect_server
        started = prefect_server.prestart(["backtest"])
        assert started.wait(timeout=170), started.error
        print(started.process.pid, flush=True)
        os._exit(0)  # as a SIGKILL would: no atexit, no stop()
        """
    done = _run_script(tmp_path, script, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    pid = int(done.stdout.split()[0])
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        pytest.fail(f"the temporary server {pid} outlived its command by 30 s")
