"""Start Prefect's temporary server early, in its own process, while the command line imports.

Input contract: the command line's arguments (the subcommand is the first one that is not an
option). Without a configured server (`PREFECT_API_URL` empty in the environment and in the
active Prefect profile) a flow run starts a temporary local server on its first API call and
waits for it: 4-7 s on a quiet machine, 15 s and more on a loaded one, most of it the server
process importing Prefect's API. Prefect's own start (`SubprocessASGIServer.start`) also imports
that API into the calling process first (3 s of CPU on these machines) only to build its
command line.

Here `prestart(argv)` launches the server process at once, before the command checks its inputs
(`cnnlstm.infra.prefect_launcher`: it imports Prefect's API and then waits), so that import
overlaps the command's own imports and checks. `Prestart.release()`, called once the inputs are
checked, tells it to serve (the same `prefect.server.api.server:create_app` under uvicorn, with
the same environment as Prefect's temporary server) and polls its health check from a
background thread; `Prestart.cancel()`, called when the checks fail, ends it before it has
opened any database. `prefect_api()` waits for the health check and points the flow at the
server for the duration of the block (`temporary_settings`, Prefect's documented way to set one
setting for a block). When the process ends the server is stopped (`atexit`; registered before
Prefect's log and event workers register theirs, so it runs after they have drained); if the
process is killed before its exit handlers run, the server sees its standard input end and
stops by itself.

From Python (a script, a notebook, a bench), `temporary_server()` runs a block's flows on the
same server (seeded from the template, stopped at the block's end): a flow called outside it
starts Prefect's own temporary server, whose database is migrated anew in each new Prefect home
(Prefect opens no hook before that server's start to copy a database in: see
`cnnlstm.infra.prefect_db`).

A configured server (`PREFECT_API_URL` in the environment or the active profile) is used as it
is: the launcher sees it and exits without serving. Commands that run no flow start nothing. If
the early server fails to answer, the block runs without it and the flow starts Prefect's own
temporary server as it always would.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence

from cnnlstm.infra.prefect_launcher import CONFIGURED

#: Subcommands that run a Prefect flow (and so need an API).
FLOW_COMMANDS = frozenset({"backtest", "walk-forward"})

#: uvicorn's exit status when it cannot start (the port is taken): retried on another port
_STARTUP_FAILURE = 3


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launcher_command(port: int) -> list[str]:
    """The command line of the server process (`cnnlstm.infra.prefect_launcher`) on `port`."""
    return [sys.executable, "-m", "cnnlstm.infra.prefect_launcher", str(port)]


def _server_env() -> dict[str, str]:
    # as Prefect's SubprocessASGIServer: no UI, marked as the ephemeral server
    return {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }


def _healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Prestart:
    """A temporary Prefect server process: importing until `release()`, then serving."""

    def __init__(self, timeout: float | None = None) -> None:
        self.error: BaseException | None = None
        self.api_url: str | None = None
        self.configured = False
        self.timeout = timeout if timeout is not None else _startup_timeout()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = self._launch(self.port)
        atexit.register(self.stop)  # before Prefect's workers register theirs: runs after them

    @staticmethod
    def _launch(port: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(launcher_command(port), stdin=subprocess.PIPE, env=_server_env())

    def release(self) -> None:
        """The command's inputs are fine: serve, and poll the health check in the background."""
        if self._thread is None:
            self._go(self.process)
            self._thread = threading.Thread(target=self._poll, name="prefect-prestart", daemon=True)
            self._thread.start()

    @staticmethod
    def _go(process: subprocess.Popen[bytes] | None) -> None:
        if process is None or process.stdin is None:
            return
        with contextlib.suppress(OSError):  # it exited already (configured): poll says why
            process.stdin.write(b"go\n")
            process.stdin.flush()  # kept open: its end (this process gone) stops the server

    def _poll(self) -> None:
        try:
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                with self._lock:
                    process = self.process
                if process is None:
                    return  # stopped
                code = process.poll()
                if code == CONFIGURED:
                    self.configured = True
                    return
                if code == _STARTUP_FAILURE:  # the port was taken meanwhile: another one
                    with self._lock:
                        if self._stopped:
                            return
                        self.port = _free_port()
                        self.process = self._launch(self.port)
                        self._go(self.process)
                    continue
                if code is not None:
                    raise RuntimeError(f"the temporary Prefect server exited with status {code}")
                url = f"http://127.0.0.1:{self.port}/api"
                if _healthy(url):
                    self.api_url = url
                    return
                time.sleep(0.05)
            raise RuntimeError(f"the temporary Prefect server did not answer in {self.timeout} s")
        except BaseException as err:  # noqa: BLE001 - the flow then starts Prefect's own server
            self.error = err
            self.stop()

    def cancel(self) -> None:
        """The command's inputs are wrong: end the process at once, before it serves (idempotent).

        It has opened no database before its `go` (it is importing Prefect's API, or waiting
        for the word): terminated now, the command exits now, instead of waiting seconds for
        an import whose result nobody needs.
        """
        with self._lock:
            self._stopped = True
            process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        with contextlib.suppress(OSError):
            process.terminate()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server answers (or failed to start); True when it is up."""
        self.release()
        assert self._thread is not None
        self._thread.join(timeout)
        return self.api_url is not None and self.error is None

    def stop(self) -> None:
        """Stop the server process (idempotent): SIGTERM, then SIGKILL after 5 s."""
        with self._lock:
            self._stopped = True
            process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if process.stdin is not None:  # before its go: it exits; serving: it shuts down
            with contextlib.suppress(OSError):
                process.stdin.close()
        if self._thread is not None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _startup_timeout() -> float:
    raw = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "").strip()
    try:
        return float(raw) if raw else 120.0
    except ValueError:
        return 120.0


def _subcommand(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


_current: Prestart | None = None


def prestart(argv: Sequence[str]) -> Prestart | None:
    """Start the temporary server now when the command will need one and none is configured.

    The command runs its flow inside `prefect_api()`.
    """
    global _current
    if _subcommand(argv) not in FLOW_COMMANDS or os.environ.get("PREFECT_API_URL", "").strip():
        return None
    if _current is None or _current.process is None:
        _current = Prestart()
    return _current


def release() -> None:
    """The command's inputs are checked: the prestarted server (if any) may serve."""
    if _current is not None:
        _current.release()


def cancel() -> None:
    """The command's inputs are wrong: end the prestarted server before it serves."""
    global _current
    if _current is not None and _current._thread is None:
        _current.cancel()
        _current = None


@contextlib.contextmanager
def prefect_api(timeout: float | None = None) -> Iterator[str | None]:
    """Run the block against the server `prestart` began (waits for it); yields its API URL.

    Without a prestarted server (none needed, or it failed) the block runs with Prefect's own
    settings and yields None.
    """
    if _current is None or not _current.wait(timeout):
        yield None
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: _current.api_url}):
        yield _current.api_url


@contextlib.contextmanager
def temporary_server(timeout: float | None = None) -> Iterator[str | None]:
    """Flows called from Python inside the block use the project's temporary server.

    Called from Python (a script, a notebook, a bench) a flow would start Prefect's own
    temporary server (`SubprocessASGIServer`): its database migrated anew in every new Prefect
    home, its API imported in the calling process first. This starts the command line's server
    instead (`Prestart`, released at once): a new home's database is copied from the user's
    template (`cnnlstm.infra.prefect_db`, built once per user and Prefect version), the API's
    import runs in the server's process. The server stops when the block ends. With
    `PREFECT_API_URL` configured nothing is started (the block uses that server); if the server
    fails to answer, the block runs with Prefect's own settings. Yields the API URL (or None).
    """
    global _current
    if os.environ.get("PREFECT_API_URL", "").strip():
        yield None
        return
    if _current is None or _current.process is None:
        _current = Prestart(timeout)
    server = _current
    server.release()
    try:
        with prefect_api(timeout) as url:
            yield url
    finally:
        server.stop()
        if _current is server:
            _current = None


__all__ = [
    "FLOW_COMMANDS",
    "Prestart",
    "prefect_api",
    "temporary_server",
    "cancel",
    "launcher_command",
    "prestart",
    "release",
]
