"""prefect.yaml's live deployments: tagged production, concurrency limit 1, scheduled, and their
flows name their runs by the day, time out and retry only transient errors."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from cnnlstm.flows.live import StaleDataError
from cnnlstm.flows.ops import is_transient

ROOT = Path(__file__).resolve().parents[2]
LIVE = {"data-health", "monthly-selection", "daily-timing", "monitor"}


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
        assert deployment["schedules"][0]["cron"], name


def test_live_flows_have_run_names_and_timeouts():
    for name in LIVE:
        path, _, attr = _deployments()[name]["entrypoint"].partition(":")
        module = importlib.import_module("cnnlstm." + path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, attr)
        assert flow.timeout_seconds and flow.timeout_seconds > 0, name
        assert callable(flow.flow_run_name), name


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
