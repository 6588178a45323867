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
  (`PREFECT_API_URL` set: no temporary server);
* with `--server-pairs N`, the temporary server's start in a new Prefect home, N interleaved
  pairs: its database migrated anew (`CNNLSTM_PREFECT_DB_TEMPLATE=0`, as before) and copied from
  the user's template (`cnnlstm.infra.prefect_db`), each with its wall seconds to the first
  healthy answer and the server process's CPU seconds by then (less load-dependent), and the
  medians' ratios;
* with `--cold-pairs N`, the whole cold `cnnlstm backtest` (new data home, new Prefect home) N
  interleaved pairs, template off and on;
* with `--python-pairs N`, a one-task flow called from Python in a new Prefect home, N
  interleaved pairs: on Prefect's own temporary server (its database migrated anew) and inside
  `cnnlstm.infra.prefect_server.temporary_server()` (copied from the template), as process
  wall seconds.
OMP_NUM_THREADS is left as the caller has it (unset: the project chooses its threads).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
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
    ap.add_argument("--server-pairs", type=int, default=0, help="template off/on server pairs")
    ap.add_argument("--cold-pairs", type=int, default=0, help="template off/on cold run pairs")
    ap.add_argument("--python-pairs", type=int, default=0, help="flow from Python pairs")
    ap.add_argument("extra", nargs="*", help="extra `cnnlstm backtest` arguments")
    args = ap.parse_args()
    if args.python_pairs:
        python_pairs(args.python_pairs)
        return
    if args.server_pairs or args.cold_pairs:
        template_pairs(args.server_pairs, args.cold_pairs, args.extra)
        return
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


SERVER_PROBE = """
import os, time
t = time.perf_counter()
from cnnlstm.infra.prefect_server import Prestart
server = Prestart()
assert server.wait(), server.error
wall = time.perf_counter() - t
with open(f"/proc/{server.process.pid}/stat") as f:
    ticks = f.read().rsplit(")", 1)[1].split()
cpu = (int(ticks[11]) + int(ticks[12])) / os.sysconf("SC_CLK_TCK")
print(f"HEALTHY {wall:.2f} CPU {cpu:.2f}")
server.stop()
"""


def template_pairs(server_pairs: int, cold_pairs: int, extra: list[str]) -> None:
    """New Prefect homes: the database migrated anew (off) vs copied from the template (on)."""
    import statistics

    home = Path(tempfile.mkdtemp(prefix="bench-template-"))
    py = str(ROOT / ".venv" / "bin" / "python")
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    print(f"bench_startup template pairs: home {home}, {load()}")
    subprocess.run(  # the user's template exists before the pairs (built once per user)
        [py, "-m", "cnnlstm.infra.prefect_db", _template_path(py)], env=base, check=True
    )
    found: dict[str, dict[str, list[float]]] = {"off": {}, "on": {}}
    for i in range(server_pairs):
        for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
            env = {**base, "PREFECT_HOME": str(home / f"server-{mode}-{i}")}
            env["CNNLSTM_PREFECT_DB_TEMPLATE"] = "1" if mode == "on" else "0"
            secs, out, _ = timed([py, "-c", SERVER_PROBE], env)
            got = re.search(r"HEALTHY (\S+) CPU (\S+)", out)
            wall, cpu = (float(got.group(1)), float(got.group(2))) if got else (math.nan,) * 2
            found[mode].setdefault("server wall", []).append(wall)
            found[mode].setdefault("server CPU", []).append(cpu)
            print(f"SERVER pair {i + 1} template {mode}: healthy after {wall:.1f} s, server "
                  f"CPU {cpu:.1f} s ({load()})")  # fmt: skip
    for i in range(cold_pairs):
        for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
            env = {
                **base,
                "PREFECT_HOME": str(home / f"cold-{mode}-{i}" / "prefect"),
                "CNNLSTM_HOME": str(home / f"cold-{mode}-{i}" / "data"),
                "MLFLOW_TRACKING_URI": f"sqlite:///{home / f'cold-{mode}-{i}' / 'mlflow.db'}",
                "CNNLSTM_PREFECT_DB_TEMPLATE": "1" if mode == "on" else "0",
            }
            out_dir = home / f"cold-{mode}-{i}" / "out"
            secs, out, rc = timed([*CLI, "backtest", *extra, "--out", str(out_dir)], env)
            found[mode].setdefault("cold run", []).append(secs if rc == 0 else math.nan)
            print(f"COLD pair {i + 1} template {mode}: process {secs:.1f} s, rc {rc} ({load()})")
    for key in found["off"]:
        off, on = statistics.median(found["off"][key]), statistics.median(found["on"][key])
        print(f"MEDIAN {key}: migrated anew {off:.1f} s, from the template {on:.1f} s, "
              f"on/off x{on / off:.2f}")  # fmt: skip


PYTHON_FLOW = """
import contextlib, sys, time
t = time.perf_counter()
from prefect import flow, task
from cnnlstm.infra.prefect_server import temporary_server

@task
def double(x: int) -> int:
    return 2 * x

@flow
def one() -> int:
    return double(21)

block = temporary_server() if sys.argv[1] == "seeded" else contextlib.nullcontext()
with block:
    assert one() == 42
print(f"FLOW {time.perf_counter() - t:.2f}")
"""


def python_pairs(pairs: int) -> None:
    """A flow called from Python in a new Prefect home: Prefect's own server vs ours, paired."""
    import statistics

    home = Path(tempfile.mkdtemp(prefix="bench-python-flow-"))
    py = str(ROOT / ".venv" / "bin" / "python")
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
                PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300")  # fmt: skip
    subprocess.run([py, "-m", "cnnlstm.infra.prefect_db", _template_path(py)], env=base, check=True)
    found: dict[str, dict[str, list[float]]] = {"prefect": {}, "seeded": {}}
    print(f"bench_startup python pairs: home {home}, {load()}")
    for i in range(pairs):
        for mode in ("prefect", "seeded") if i % 2 == 0 else ("seeded", "prefect"):
            env = {**base, "PREFECT_HOME": str(home / f"{mode}-{i}")}
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            secs, out, rc = timed([py, "-c", PYTHON_FLOW, mode], env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU of the process and its server (waited for): less load-dependent than wall
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            found[mode].setdefault("wall", []).append(secs if rc == 0 else math.nan)
            found[mode].setdefault("CPU", []).append(cpu if rc == 0 else math.nan)
            print(f"PYTHON pair {i + 1} {mode}: process {secs:.1f} s, CPU with its server "
                  f"{cpu:.1f} s, rc {rc} ({load()})")  # fmt: skip
            if rc != 0:
                print(out[-2000:], file=sys.stderr)
    for key in ("wall", "CPU"):
        own = statistics.median(found["prefect"][key])
        ours = statistics.median(found["seeded"][key])
        print(f"MEDIAN flow from Python, {key}: Prefect's own server {own:.1f} s, "
              f"temporary_server() {ours:.1f} s, x{ours / own:.2f}")  # fmt: skip


def _template_path(py: str) -> str:
    code = "from cnnlstm.infra.prefect_db import template_path; print(template_path())"
    return subprocess.run(
        [py, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


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
