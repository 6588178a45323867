"""`cnnlstm ui`: open MLflow on the store the runs used.

Examples:
    cnnlstm ui                          # the local store: a server on 127.0.0.1, a free port
    cnnlstm ui --run 3f2a9b...          # ... and the link to that run
    cnnlstm ui --port 5000

With a local store (the default SQLite database in the data directory, `$CNNLSTM_HOME`) it
starts `mlflow server` on the loopback interface only, on that database and its artifacts, and
prints the link; Ctrl-C stops it. With `MLFLOW_TRACKING_URI` pointing at a server, that server
already is the UI: the command prints its link and starts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from cnnlstm.core.errors import UserInputError

#: Seconds to wait for the MLflow server to answer.
START_TIMEOUT_S = 180.0


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `ui` subcommand's parser."""
    parser = subparsers.add_parser(
        "ui",
        help="open the MLflow UI on the store the runs used (local: 127.0.0.1, a free port)",
        description="Start the MLflow UI on the local tracking store (loopback only) and print "
        "its link, or print the link of the configured MLflow server.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--run", metavar="RUN_ID", help="print the link to this run too")
    return parser


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_path(run_id: str) -> str:
    """The UI path of a run: `#/experiments/<id>/runs/<run>`."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException as err:
        raise UserInputError(f"no MLflow run {run_id}: {err.message}") from None
    return f"#/experiments/{run.info.experiment_id}/runs/{run_id}"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own server
            return answer.status < 400
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    """Print the UI's link; for a local store start the server and keep it until Ctrl-C."""
    from cnnlstm.core.paths import data_home
    from cnnlstm.infra import tracking

    uri = tracking.configure()
    if not tracking._is_local_store(uri):
        path = run_path(args.run) if args.run else ""
        print(f"MLflow UI (the configured server): {uri.rstrip('/')}/{path}")
        return 0
    path = run_path(args.run) if args.run else ""
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", uri, "--workers", "1",
        "--default-artifact-root", (data_home() / "mlartifacts").resolve().as_uri(),
    ]  # fmt: skip
    log = data_home() / "logs" / f"mlflow-ui-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        # its own process group: MLflow's server runs uvicorn, a job runner and huey consumers
        # as children, and all of them must stop with it (stop_server)
        server = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(f"{base}/health"):
            if server.poll() is not None:
                code = server.returncode
                raise UserInputError(f"the MLflow UI did not start (exit {code}): see {log}")
            if time.monotonic() > deadline:
                wait = f"{START_TIMEOUT_S:.0f} s"
                raise UserInputError(f"the MLflow UI did not answer in {wait}: see {log}")
            time.sleep(0.5)
        print(f"MLflow UI: {base}/{path}  (store {uri}; Ctrl-C stops it)", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_server(server)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM / SIGHUP (a `kill`, a closed terminal) stop the UI as Ctrl-C does."""
    raise KeyboardInterrupt


def stop_server(server: subprocess.Popen, timeout: float = 15) -> None:
    """Stop the server and every process of its group (SIGTERM, then SIGKILL after `timeout`).

    Before, a `cnnlstm ui` ended by SIGTERM died without its `finally` and left MLflow's server
    and its huey job consumers running (seen after the first-run test: 7 consumers, each
    polling, hours later); and terminating only the server's own process left its children.
    """
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.poll()
        try:
            os.killpg(server.pid, 0)  # anyone of the group left?
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()
