"""The live alert automations exist on a real Prefect server and fire on a failed live run.

A real `prefect server start` on loopback, a local HTTP endpoint standing in for the webhook,
and a real `daily_timing` run on a stale feed (it fails red with StaleDataError) tagged
`production`: the failed-run automation must POST to the endpoint, and with the quiet window
shortened to 36 s the watchdog-silent automation too (no watchdog run finished).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer

import polars as pl
import pytest
from support import prefect_server

from cnnlstm.flows.automations import FAILED, MISSING
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.data.sources.sim import SimConfig

pytestmark = [pytest.mark.slow, pytest.mark.server]
SCRIPT = """
import sys
from datetime import date
import prefect
from cnnlstm.flows.automations import ensure_live_alerts
from cnnlstm.flows.daily_timing import DailyParams, daily_timing_flow
from cnnlstm.flows.params import DataParams
ensure_live_alerts(sys.argv[1], quiet_hours=float(sys.argv[3]))
with prefect.tags("production"):
    try:
        daily_timing_flow(DailyParams(data=DataParams(source="parquet:" + sys.argv[2]),
                                      as_of=date(2013, 7, 2)))
    except Exception as err:
        print("FAILED-AS-EXPECTED", type(err).__name__, err)
"""


def _post(url: str, payload: dict) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def test_failed_live_run_fires_the_automation(tmp_path):
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{hook.server_port}/alert"

    cfg = SimConfig(n_stocks=20, start=date(2012, 1, 1), end=date(2013, 12, 31), seed=1)
    feed = tmp_path / "feed.parquet"
    bars = load_source("sim", **cfg.model_dump()).bars
    bars.filter(pl.col("date") <= date(2013, 6, 28)).write_parquet(feed)

    try:
        with prefect_server(tmp_path) as (api, env):
            done = subprocess.run(
                [sys.executable, "-c", SCRIPT, hook_url, str(feed), "0.01"],  # 36 s quiet window
                env=env, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert "FAILED-AS-EXPECTED StaleDataError" in done.stdout, done.stdout + done.stderr
            names = {a["name"] for a in _post(f"{api}/automations/filter", {})}
            assert {FAILED, MISSING} <= names
            deadline = time.monotonic() + 120
            while not received and time.monotonic() < deadline:
                time.sleep(1)
            assert received, "the failed-run automation sent no notification"
            text = json.dumps(received[0])
            assert "daily-timing/2013-07-02" in text and "Failed" in text
            # the run's link, its dataset and the failing check
            assert "/runs/flow-run/" in text and f"parquet:{feed}" in text
            assert "StaleDataError" in text or "stale data" in text
            # no production run completed within the (shortened) quiet window: the second fires
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and not any(
                "missing" in json.dumps(r) for r in received
            ):
                time.sleep(2)
            assert any("live runs are missing" in json.dumps(r) for r in received), received
    finally:
        hook.shutdown()
