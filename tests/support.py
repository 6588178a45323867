"""Helpers shared by several test modules (importable because pytest puts tests/ on the path)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl

PREFECT = str(Path(sys.executable).parent / "prefect")


def random_walk_bars(
    n_stocks: int, days: pl.Series, seed: int = 0, amount_markup: float = 1.0
) -> pl.DataFrame:
    """Bars of a small random-walk market on `days`, every stock traded every day.

    `amount_markup` scales amount away from close x volume, so a test can tell the fields apart.
    """
    rng = np.random.default_rng(seed)
    n_d = days.len()
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_stocks, n_d)), axis=1))  # (S, D)
    open_ = close * np.exp(rng.normal(0, 0.005, close.shape))
    volume = rng.uniform(1e5, 1e6, close.shape)
    return pl.DataFrame(
        {
            "symbol": np.repeat([f"S{i:02d}" for i in range(n_stocks)], n_d),
            "date": np.tile(days.to_numpy(), n_stocks),
            "open": open_.ravel(),
            "high": (np.maximum(open_, close) * 1.01).ravel(),
            "low": (np.minimum(open_, close) * 0.99).ravel(),
            "close": close.ravel(),
            "volume": volume.ravel(),
            "amount": (volume * close * amount_markup).ravel(),
        }
    )


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Terminate a server the test started; kill it if it does not exit within `timeout`.

    A server started with `start_new_session=True` is stopped with its whole process group:
    `mlflow server` runs uvicorn (and job consumers) as children that outlive its own exit.
    """
    try:
        group = os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        group = False

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig) if group else proc.send_signal(sig)

    send(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait()
    if group:  # the children may still be shutting down: give them the same time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        send(signal.SIGKILL)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def prefect_server(tmp_path: Path, timeout: float = 180) -> Iterator[tuple[str, dict[str, str]]]:
    """A real `prefect server start` on 127.0.0.1 and a free port, healthy, stopped afterwards.

    Yields the API URL and the environment a client process needs (its own PREFECT_HOME, the
    API URL, telemetry off, CNNLSTM_HOME under `tmp_path`; no PREFECT_/MLFLOW_ of the caller's).
    """
    api = f"http://127.0.0.1:{free_port()}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))} | {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "CNNLSTM_HOME": str(tmp_path / "home"),
    }
    log = tmp_path / "server.log"
    port = api.rsplit(":", 1)[1].split("/")[0]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{api}/health", timeout=5) as resp:
                        if json.loads(resp.read()) is True:
                            break
                except OSError:
                    pass
                assert server.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "prefect server did not become healthy"
                time.sleep(1)
            yield api, env
        finally:
            stop_process(server, timeout=30)


@contextmanager
def mlflow_server(tmp_path: Path, timeout: float = 120) -> Iterator[str]:
    """A real `mlflow server` (SQLite, local artifacts, one worker) on 127.0.0.1; yields its URL."""
    port = free_port()
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    cmd = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow-server.db'}",
        "--artifacts-destination", str(tmp_path / "mlflow-artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = tmp_path / "mlflow-server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                assert server.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, f"mlflow server did not start in {timeout} s"
                time.sleep(0.5)
            yield url
        finally:
            stop_process(server, timeout=20)


def prefect_api(url: str, payload: dict | None = None, attempts: int = 10) -> dict:
    """POST (or GET) JSON to a Prefect API; a 503 (its SQLite busy) is retried."""
    import urllib.error

    data = None if payload is None else json.dumps(payload).encode()
    for attempt in range(attempts):
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            if err.code != 503 or attempt == attempts - 1:
                raise
            time.sleep(2)
    raise AssertionError("unreachable")
