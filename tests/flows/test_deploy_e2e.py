"""End to end: a real Prefect server and process worker, deployments from prefect.yaml, and a
`backtest` run triggered with parameters through the REST API."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest
from support import PREFECT, prefect_api, prefect_server

from cnnlstm.flows.params import DataParams, Period, Protocol, ResearchParams, TrackingParams
from cnnlstm.tasks.data.sources.sim import SimConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
        deployments = {d["name"]: d for d in prefect_api(f"{api}/deployments/filter", {})}
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

        deployment = prefect_api(f"{api}/deployments/name/backtest/backtest")
        run = prefect_api(
            f"{api}/deployments/{deployment['id']}/create_flow_run",
            {"parameters": {"params": _tiny_params(), "out_dir": str(tmp_path / "out")}},
        )
        cli("worker", "start", "--pool", "local-pool", "--run-once", timeout=900)
        state = prefect_api(f"{api}/flow_runs/{run['id']}")["state"]
        assert state["type"] == "COMPLETED", state
        table2 = (tmp_path / "out" / "table2.md").read_text()
        assert table2.count("| Annualized return, net of costs |") == 1
        assert "### Caveats" in table2


@pytest.mark.server
@pytest.mark.slow  # server, deploy and one worker run that ends at its first step: ~1-2 min
def test_a_train_period_after_the_test_fails_at_once_with_one_error_line(tmp_path):
    """Before: the form accepted it and the worker failed 8-10 s later behind a traceback."""
    params = _tiny_params()
    params["protocol"]["train"] = {"start": "2013-01-01", "end": "2013-05-31"}
    with prefect_server(tmp_path) as (api, env):
        for args in (("work-pool", "create", "local-pool", "--type", "process"),
                     ("--no-prompt", "deploy", "--name", "backtest")):  # fmt: skip
            done = subprocess.run([PREFECT, *args], cwd=PROJECT_ROOT, env=env,
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        deployment = prefect_api(f"{api}/deployments/name/backtest/backtest")
        run = prefect_api(
            f"{api}/deployments/{deployment['id']}/create_flow_run",
            {"parameters": {"params": params}},
        )
        subprocess.run([PREFECT, "worker", "start", "--pool", "local-pool", "--run-once"],
                       cwd=PROJECT_ROOT, env=env, capture_output=True, timeout=600)  # fmt: skip
        flow_run = prefect_api(f"{api}/flow_runs/{run['id']}")
        logs = prefect_api(f"{api}/logs/filter", {"logs": {"flow_run_id": {"any_": [run["id"]]}}})
    state = flow_run["state"]
    assert state["type"] == "FAILED", state
    message = state["message"]
    assert message.startswith("error: invalid settings: protocol") and "\n" not in message
    assert "out of sample" in message
    assert flow_run["total_run_time"] < 2.0, flow_run["total_run_time"]  # seconds Running
    errors = [x["message"] for x in logs if x["level"] >= 40]
    assert errors == [message], errors
    assert not [x for x in logs if "Traceback" in x["message"]]
