"""End to end: a real Prefect server and process worker, deployments from prefect.yaml, and a
`backtest` run triggered with parameters through the REST API."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import pytest
from support import PREFECT, prefect_server

from cnnlstm.flows.params import DataParams, Period, Protocol, ResearchParams, TrackingParams
from cnnlstm.tasks.data.sources.sim import SimConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _api(url: str, payload: dict | None = None, attempts: int = 10) -> dict:
    """POST (or GET) JSON; a 503 (the server's SQLite busy with the scheduler) is retried."""
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


def _tiny_params() -> dict:
    params = ResearchParams(
        data=DataParams(sim=SimConfig(n_stocks=40, start=date(2010, 1, 1), end=date(2013, 6, 30))),
        protocol=Protocol(
            train=Period(start=date(2011, 3, 1), end=date(2012, 10, 31)),
            test=Period(start=date(2012, 11, 1), end=date(2013, 6, 30)),
        ),
        cnn={"epochs": 1},
        lstm={"epochs": 1},
        lstm_windows={"max_windows_per_month": 30},
        tracking=TrackingParams(enabled=False),
    )
    return params.model_dump(mode="json")


@pytest.mark.server
@pytest.mark.slow  # server, deploy and a worker-run flow: 1-3 minutes on 2 shared cores
def test_deploy_from_prefect_yaml_and_run_backtest_through_the_api(tmp_path):
    with prefect_server(tmp_path) as (api, env):

        def cli(*args: str, timeout: float = 300) -> str:
            done = subprocess.run(
                [PREFECT, *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                text=True, timeout=timeout,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            return done.stdout

        cli("work-pool", "create", "local-pool", "--type", "process")
        cli("--no-prompt", "deploy", "--all")
        deployments = {d["name"]: d for d in _api(f"{api}/deployments/filter", {})}
        assert {"backtest", "walk-forward", "monthly-selection", "daily-timing"} <= set(deployments)
        crons = {
            n: [s["schedule"].get("cron") for s in d["schedules"]] for n, d in deployments.items()
        }
        # the live flows run after every weekday close (sessions from the exchange calendar)
        assert crons["monthly-selection"] == ["15 16 * * 1-5"] and crons["daily-timing"] == [
            "30 16 * * 1-5"
        ]
        assert {"data-health", "monitor"} <= set(deployments)
        assert crons["backtest"] == []

        deployment = _api(f"{api}/deployments/name/backtest/backtest")
        run = _api(
            f"{api}/deployments/{deployment['id']}/create_flow_run",
            {"parameters": {"params": _tiny_params(), "out_dir": str(tmp_path / "out")}},
        )
        cli("worker", "start", "--pool", "local-pool", "--run-once", timeout=900)
        state = _api(f"{api}/flow_runs/{run['id']}")["state"]
        assert state["type"] == "COMPLETED", state
        table2 = (tmp_path / "out" / "table2.md").read_text()
        assert table2.count("| Annualized return, net of costs |") == 1
        assert "### Caveats" in table2
