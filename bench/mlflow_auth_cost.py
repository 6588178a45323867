"""What MLflow's basic-auth app costs per request and per tracked run, with and without its
credential cache (`auth_cache_ttl_seconds`, docker/mlflow/basic_auth.ini).

Starts two real `mlflow server --app-name basic-auth` processes on 127.0.0.1 (cache off, cache
60 s) and one without auth, then times the same client work against them interleaved (A B C A B
C), so the ratios hold on a busy machine even where the absolute seconds do not:

    .venv/bin/python bench/mlflow_auth_cost.py [--rounds 3] [--requests 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MLFLOW = str(Path(sys.executable).parent / "mlflow")
ADMIN = ("admin", "an-admin-password-for-the-bench")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp: Path, auth: bool, ttl: int) -> tuple[subprocess.Popen, str]:
    """A real MLflow server; with `auth`, compose's basic-auth settings and cache TTL `ttl`."""
    tmp.mkdir(parents=True)
    ini = tmp / "basic_auth.ini"
    text = (ROOT / "docker" / "mlflow" / "basic_auth.ini").read_text()
    text = text.replace("sqlite:////mlflow-auth/", f"sqlite:///{tmp}/")
    lines = [ln for ln in text.splitlines() if not ln.startswith("auth_cache_ttl_seconds")]
    ini.write_text("\n".join(lines) + f"\nauth_cache_ttl_seconds = {ttl}\n")
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN[0],
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "a-secret-key-for-the-bench",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    cmd = [MLFLOW, "server", "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
           "--artifacts-destination", str(tmp / "artifacts"), "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]  # fmt: skip
    if auth:
        cmd[2:2] = ["--app-name", "basic-auth"]
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - open while the server runs
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=5).close()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / "server.log").read_text()[-2000:]) from None
            time.sleep(1)


def per_request(url: str, n: int) -> float:
    """Seconds per request: `n` experiment look-ups."""
    from mlflow import MlflowClient

    client = MlflowClient(url)
    client.search_experiments(max_results=1)  # connection and session set up
    t0 = time.perf_counter()
    for _ in range(n):
        client.get_experiment_by_name("Default")
    return (time.perf_counter() - t0) / n


def per_run(url: str) -> tuple[float, int]:
    """Seconds for one tracked run as the flows log it (params, metrics, curves, a table)."""
    import polars as pl

    from cnnlstm.infra import tracking

    os.environ["MLFLOW_TRACKING_URI"] = url
    t0 = time.perf_counter()
    with tracking.tracked_run("bench-auth"):
        tracking.log_params({f"group{i // 20}": {f"p{i}": i} for i in range(150)})
        tracking.log_metrics({f"m{i}": float(i) for i in range(40)})
        tracking.log_history("cnn", [{"epoch": e, "loss": 1.0 / (e + 1)} for e in range(20)])
        tracking.log_frame(pl.DataFrame({"a": [1, 2]}), "tables/a.csv")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mlflow-auth-bench-"))
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = ADMIN
    cases = {"no auth": (False, 0), "auth, no cache": (True, 0), "auth, cache 60 s": (True, 60)}
    servers = {name: start(tmp / str(i), *spec) for i, (name, spec) in enumerate(cases.items())}
    results: dict[str, dict[str, list[float]]] = {n: {"req": [], "run": []} for n in cases}
    try:
        for _ in range(args.rounds):
            for name, (_, url) in servers.items():
                results[name]["req"].append(per_request(url, args.requests))
                results[name]["run"].append(per_run(url))
    finally:
        for proc, _ in servers.values():
            os.killpg(proc.pid, 15)
        shutil.rmtree(tmp, ignore_errors=True)
    for name, got in results.items():
        print(
            f"{name:18s} per request {statistics.median(got['req']) * 1000:7.1f} ms   "
            f"per run {statistics.median(got['run']):6.2f} s   (median of {args.rounds})"
        )


if __name__ == "__main__":
    main()
