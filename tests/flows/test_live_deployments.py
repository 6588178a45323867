"""prefect.yaml's live deployments: tagged production, concurrency limit 1, scheduled, and their
flows name their runs by the day, time out and retry only transient errors."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from cnnlstm.flows.live import LiveSourceError
from cnnlstm.flows.ops import is_transient
from cnnlstm.tasks.live.sessions import StaleDataError

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
LIVE = {"data-update", "data-health", "monthly-selection", "daily-timing", "monitor", "watchdog"}


def _deployments() -> dict[str, dict]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in config["deployments"]}


def test_live_deployments_are_limited_to_one_run_and_scheduled():
    found = _deployments()
    assert set(found) >= LIVE
    for name in LIVE:
        deployment = found[name]
        assert deployment["concurrency_limit"] == 1, name
        assert "production" in deployment["tags"], name
        schedule = deployment["schedules"][0]
        assert schedule.get("cron") or schedule.get("rrule"), name


def test_live_flows_have_run_names_and_timeouts():
    for name in LIVE:
        path, _, attr = _deployments()[name]["entrypoint"].partition(":")
        module = importlib.import_module("cnnlstm." + path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, attr)
        assert flow.timeout_seconds and flow.timeout_seconds > 0, name
        assert callable(flow.flow_run_name) or "/" in flow.flow_run_name, name


def test_only_transient_errors_are_retried():
    assert is_transient(ConnectionError("reset"))
    assert is_transient(RuntimeError("wrapped").with_traceback(None)) is False
    try:
        try:
            raise TimeoutError("read timed out")
        except TimeoutError as inner:
            raise RuntimeError("source failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    assert not is_transient(StaleDataError("stale"))
    assert not is_transient(ValueError("bug"))


def test_the_docker_pool_runs_the_same_live_deployments():
    config = yaml.safe_load((ROOT / "docker" / "prefect.docker.yaml").read_text())
    docker = {d["name"].removesuffix("-docker"): d for d in config["deployments"]}
    for name in LIVE:
        process = _deployments()[name]
        assert docker[name]["entrypoint"] == process["entrypoint"]
        assert docker[name]["schedules"] == process["schedules"]
        assert docker[name]["concurrency_limit"] == 1 and "production" in docker[name]["tags"]


def _preview(name: str, start: datetime, end: datetime) -> list[datetime]:
    """When prefect.yaml's schedule of `name` fires in [start, end]: Prefect's own preview."""
    from prefect.server.schemas.schedules import CronSchedule, RRuleSchedule

    spec = dict(_deployments()[name]["schedules"][0])
    spec.pop("active", None)
    schedule = RRuleSchedule(**spec) if "rrule" in spec else CronSchedule(**spec)
    return asyncio.run(schedule.get_dates(n=1000, start=start, end=end))


def test_the_monitor_fires_once_a_month_on_the_first_weekday():
    start = datetime(2026, 1, 1, tzinfo=SHANGHAI)
    fires = _preview("monitor", start, datetime(2026, 3, 31, 23, 59, tzinfo=SHANGHAI))
    # the old cron "0 18 1-7 * 1-5" fired on every weekday (Prefect ORs day of month and week)
    assert [(d.month, d.day, d.hour) for d in fires] == [(1, 1, 18), (2, 2, 18), (3, 2, 18)]
    for day in fires:
        assert day.weekday() < 5 and all(
            date(day.year, day.month, d).weekday() >= 5 for d in range(1, day.day)
        )


def test_data_update_runs_before_data_health_on_every_weekday():
    start = datetime(2026, 6, 1, tzinfo=SHANGHAI)
    end = datetime(2026, 6, 30, 23, 59, tzinfo=SHANGHAI)
    update, health = _preview("data-update", start, end), _preview("data-health", start, end)
    assert len(update) == len(health) == 22
    for before, after in zip(update, health, strict=True):
        assert before.date() == after.date() and before < after


def test_live_deployments_as_is_refuse_to_run_and_take_the_source_from_the_environment(
    monkeypatch,
):
    from prefect.utilities.templating import apply_values

    monkeypatch.delenv("CNNLSTM_LIVE_ALLOW_SIMULATOR")
    for name in LIVE - {"watchdog"}:
        deployment = _deployments()[name]
        flow = _flow_of(deployment["entrypoint"])
        for unset in (
            apply_values(deployment["parameters"], {}, remove_notset=False),  # the template
            apply_values(deployment["parameters"], {}),  # what `prefect deploy` stores: ""
            {},  # no parameters at all: the flow's default, the simulated market
        ):
            params = flow.validate_parameters(unset).get("params")
            params = params if params is not None else flow_default(flow)
            with pytest.raises(LiveSourceError, match="CNNLSTM_LIVE_SOURCE|real source"):
                params.require_source()
        monkeypatch.setenv("CNNLSTM_LIVE_SOURCE", "qlib:/market/qlib/cn_data")
        resolved = apply_values(deployment["parameters"], {}, remove_notset=False)
        monkeypatch.delenv("CNNLSTM_LIVE_SOURCE")
        params = flow.validate_parameters(resolved)["params"]
        assert params.data.source == "qlib:/market/qlib/cn_data"
        params.require_source()


def flow_default(flow):
    return inspect.signature(flow.fn).parameters["params"].default


def test_an_explicit_simulator_is_refused_unless_allowed(monkeypatch):
    from cnnlstm.flows.daily_timing import DailyParams
    from cnnlstm.flows.params import DataParams

    monkeypatch.delenv("CNNLSTM_LIVE_ALLOW_SIMULATOR")
    with pytest.raises(LiveSourceError, match="need a real source, not the simulated market"):
        DailyParams().require_source()
    with pytest.raises(LiveSourceError, match="need a real source"):
        DailyParams(data=DataParams(source="sim")).require_source()
    DailyParams(allow_simulator=True).require_source()
    monkeypatch.setenv("CNNLSTM_LIVE_ALLOW_SIMULATOR", "1")
    DailyParams().require_source()


def _flow_of(entrypoint: str):
    path, _, attr = entrypoint.partition(":")
    module = importlib.import_module("cnnlstm." + path.removesuffix(".py").replace("/", "."))
    return getattr(module, attr)
