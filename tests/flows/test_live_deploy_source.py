"""prefect.yaml deployed as is on a real Prefect server schedules no live flow on the simulator:
the live deployments carry the unresolved CNNLSTM_LIVE_SOURCE, and a run of one fails at once
saying what to set; deployed with the variable set, they carry the site's source."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from support import PREFECT, prefect_server

pytestmark = [pytest.mark.slow, pytest.mark.server]
ROOT = Path(__file__).resolve().parents[2]
LIVE = {"data-update", "data-health", "monthly-selection", "daily-timing", "monitor"}


def _api(url: str, payload: dict | None = None) -> object:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def test_prefect_yaml_as_is_never_runs_a_live_flow_on_the_simulator(tmp_path):
    with prefect_server(tmp_path) as (api, env):
        env = {k: v for k, v in env.items() if not k.startswith("CNNLSTM_LIVE_")}

        def cli(*args: str, extra: dict | None = None, timeout: float = 600) -> str:
            done = subprocess.run(
                [PREFECT, *args], cwd=ROOT, env=env | (extra or {}), capture_output=True,
                text=True, timeout=timeout,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            return done.stdout + done.stderr

        cli("work-pool", "create", "local-pool", "--type", "process")
        cli("--no-prompt", "deploy", "--all")
        found = {d["name"]: d for d in _api(f"{api}/deployments/filter", {})}
        assert LIVE | {"watchdog"} <= set(found)
        for name in LIVE:
            source = found[name]["parameters"]["params"]["data"]["source"]
            # `prefect deploy` leaves the unset variable empty: no source, never `sim`
            assert source in ("", "{{ $CNNLSTM_LIVE_SOURCE }}"), (name, source)
        (monthly,) = [s["schedule"]["rrule"] for s in found["monitor"]["schedules"]]
        assert "FREQ=MONTHLY" in monthly and "BYSETPOS=1" in monthly, monthly
        run = _api(f"{api}/deployments/{found['data-health']['id']}/create_flow_run", {})
        cli("worker", "start", "--pool", "local-pool", "--run-once")
        state = _api(f"{api}/flow_runs/{run['id']}")["state"]
        assert state["type"] == "FAILED", state
        assert "CNNLSTM_LIVE_SOURCE was not set" in state["message"], state

        cli("--no-prompt", "deploy", "--name", "daily-timing",
            extra={"CNNLSTM_LIVE_SOURCE": "qlib:/market/qlib/cn_data"})  # fmt: skip
        timing = _api(f"{api}/deployments/name/daily_timing/daily-timing")
        assert timing["parameters"]["params"]["data"]["source"] == "qlib:/market/qlib/cn_data"
