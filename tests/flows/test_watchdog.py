"""The watchdog on a real Prefect server: a production deployment's missed session is red and
notifies (with the run's link and the failing check); a weekend and a holiday are not gaps.

The deployment is scheduled like daily-timing (16:30 Asia/Shanghai, Monday to Friday); its runs
are created on the server for chosen days and finished, and the watchdog runs with its clock set
after them (the shortened window: `lookback_days`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from support import prefect_server

pytestmark = [pytest.mark.slow, pytest.mark.server]
SCRIPT = r"""
import json, sys
from datetime import datetime
from zoneinfo import ZoneInfo
import prefect
from prefect import flow, get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import CronSchedule
from prefect.states import Completed, Scheduled
from cnnlstm.flows.automations import ensure_live_alerts
from cnnlstm.flows.watchdog import WatchdogParams, watchdog_flow

CST = ZoneInfo("Asia/Shanghai")
ensure_live_alerts(sys.argv[1])

@flow(name="daily_timing")
def placeholder():
    pass

with get_client(sync_client=True) as client:
    flow_id = client.create_flow(placeholder)
    dep = client.create_deployment(
        flow_id, "daily-timing", tags=["production"],
        schedules=[DeploymentScheduleCreate(
            schedule=CronSchedule(cron="30 16 * * 1-5", timezone="Asia/Shanghai"), active=True)],
    )
    # ran: Thu 06-04, Fri 06-05, Mon 06-08, Wed 06-10, Thu 06-18, Mon 06-22 (not Tue 06-09;
    # not Fri 06-19: the Dragon Boat Festival)
    for day in ("2026-06-04", "2026-06-05", "2026-06-08", "2026-06-10", "2026-06-18", "2026-06-22"):
        due = datetime.fromisoformat(day + "T16:30").replace(tzinfo=CST)
        run = client.create_flow_run_from_deployment(dep, state=Scheduled(scheduled_time=due))
        client.set_flow_run_state(run.id, Completed(), force=True)

def check(now, days):
    params = WatchdogParams(now=datetime.fromisoformat(now).replace(tzinfo=CST), lookback_days=days)
    try:
        with prefect.tags("production", "watchdog"):
            lines = watchdog_flow(params)
        print("GREEN", now, json.dumps(lines))
    except Exception as err:
        print("RED", now, type(err).__name__, err)

check("2026-06-08T09:00", 3)   # after a weekend: Fri ran, Sat/Sun are no sessions
check("2026-06-22T20:00", 4)   # after the holiday Friday and a weekend
check("2026-06-10T09:00", 2)   # Tuesday 06-09 was missed
"""


def test_weekends_and_holidays_are_no_gaps_and_a_missed_session_alerts(tmp_path):
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
    try:
        with prefect_server(tmp_path) as (_api, env):
            done = subprocess.run(
                [sys.executable, "-c", SCRIPT, f"http://127.0.0.1:{hook.server_port}/alert"],
                env=env, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            out = done.stdout + done.stderr
            results = [line for line in done.stdout.splitlines() if line[:4] in ("GREE", "RED ")]
            assert len(results) == 3, out
            weekend, holiday, missed = results
            assert weekend.startswith("GREEN 2026-06-08")  # 65 h after Friday's run: no gap
            assert "daily-timing 2026-06-05" in weekend and "MISSED" not in weekend
            assert holiday.startswith("GREEN 2026-06-22") and "Dragon Boat Festival" in holiday
            assert "MISSED" not in holiday
            assert missed.startswith("RED 2026-06-10T09:00 MissedSessionError"), out
            assert "daily-timing on 2026-06-09" in missed and "06-08" not in missed
            deadline = time.monotonic() + 120
            while not received and time.monotonic() < deadline:
                time.sleep(1)
            assert received, "the failed-run automation sent no notification"
            text = json.dumps(received)
            assert "daily-timing on 2026-06-09" in text  # the failing check
            assert "/runs/flow-run/" in text  # the run's link
            assert "watchdog/cn" in text
    finally:
        hook.shutdown()
