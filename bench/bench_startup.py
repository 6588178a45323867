"""Start-up cost of the default job: process wall time cold and cached, and where it goes.

Usage: .venv/bin/python bench/bench_startup.py [--rounds 2] [--skip-cold] [-- extra backtest args]

Prints (with the load average beside each figure):
* `import cnnlstm.flows.backtest` in a fresh interpreter (torch, Lightning, Prefect, polars, ...);
* the temporary Prefect server's start to its first healthy answer: Prefect's own
  (`SubprocessASGIServer.start`, which imports Prefect's API in the caller first) and the
  project's (`cnnlstm.infra.prefect_server.Prestart`, released at once);
* `cnnlstm backtest` in a fresh data home (cold: every stage computes), then the same command
  again `--rounds` times (cached: every stage from the cache), as process wall times, with the
  flow's own "finished in" figure, so start-up = process wall - flow;
* with `--configured`, the cached run again against a running `prefect server start`
  (`PREFECT_API_URL` set: no temporary server).
OMP_NUM_THREADS is left as the caller has it (unset: the project chooses its threads).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(ROOT / ".venv" / "bin" / "cnnlstm")]


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str, int]:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    return time.perf_counter() - started, done.stdout + "\n" + done.stderr, done.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-cold", action="store_true", help="reuse --home as it is")
    ap.add_argument("--home", default=None, help="data + Prefect home (default: a new temp dir)")
    ap.add_argument("--configured", action="store_true", help="also against a running server")
    ap.add_argument("extra", nargs="*", help="extra `cnnlstm backtest` arguments")
    args = ap.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="bench-startup-"))
    env = dict(os.environ)
    env.update(
        CNNLSTM_HOME=str(home / "data"),
        PREFECT_HOME=str(home / "prefect"),
        MLFLOW_TRACKING_URI=f"sqlite:///{home / 'mlflow.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    env.pop("PREFECT_API_URL", None)
    py = str(ROOT / ".venv" / "bin" / "python")
    print(f"bench_startup: home {home}, {load()}")
    secs, _, _ = timed([py, "-c", "import cnnlstm.flows.backtest"], env)
    print(f"IMPORT cnnlstm.flows.backtest: {secs:.1f} s ({load()})")
    prefects = (
        "from prefect.server.api.server import SubprocessASGIServer as S;"
        "s = S(); s.start(); print(f'HEALTHY {time.perf_counter() - t:.2f}'); s.stop()"
    )
    ours = (
        "from cnnlstm.infra.prefect_server import Prestart;"
        "s = Prestart(); s.wait(); print(f'HEALTHY {time.perf_counter() - t:.2f}'); s.stop()"
    )
    for label, probe in (("temporary Prefect server", prefects), ("project's early server", ours)):
        secs, out, _ = timed([py, "-c", "import time; t = time.perf_counter();" + probe], env)
        healthy = re.search(r"HEALTHY (\d+\.\d+)", out)
        print(
            f"SERVER {label} healthy after "
            f"{healthy.group(1) if healthy else '?'} s (process {secs:.1f} s; {load()})"
        )
    cmd = [*CLI, "backtest", *args.extra]
    runs = [] if args.skip_cold else ["cold"]
    runs += [f"cached {i + 1}" for i in range(args.rounds)]
    for name in runs:
        out_dir = home / "out" / name.replace(" ", "-")
        secs, out, rc = timed([*cmd, "--out", str(out_dir)], env)
        flow = re.search(r"finished in (\d+(?:\.\d+)?) s", out)
        flow_s = float(flow.group(1)) if flow else float("nan")
        print(
            f"RUN {name}: process {secs:.1f} s, flow {flow_s:.1f} s, outside the flow "
            f"{secs - flow_s:.1f} s, rc {rc} ({load()})"
        )
        if rc != 0:
            print(out[-2000:], file=sys.stderr)
            break
    if args.configured:
        configured_rounds(cmd, env, home, args.rounds)


def configured_rounds(cmd: list[str], env: dict[str, str], home: Path, rounds: int) -> None:
    """Cached runs against a running `prefect server start` (PREFECT_API_URL configured)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    prefect = str(ROOT / ".venv" / "bin" / "prefect")
    server = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        import urllib.request

        for _ in range(1200):
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        configured = {**env, "PREFECT_API_URL": api}
        for i in range(rounds):
            out_dir = home / "out" / f"configured-{i + 1}"
            secs, out, rc = timed([*cmd, "--out", str(out_dir)], configured)
            flow = re.search(r"finished in (\d+(?:\.\d+)?) s", out)
            flow_s = float(flow.group(1)) if flow else float("nan")
            print(
                f"RUN cached {i + 1}, configured server: process {secs:.1f} s, flow {flow_s:.1f} s,"
                f" rc {rc} ({load()})"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
