"""docker/prefect.docker.yaml: the docker work pool's deployments point at real flows, with
parameters those flows accept, and at the image, network and volume that compose.yaml creates."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml
from prefect import Flow
from prefect.utilities.templating import apply_values

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load((DOCKER / "prefect.docker.yaml").read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _default(text: str) -> str:
    """A compose value with every `${VAR:-default}` replaced by its default."""
    return DEFAULT.sub(lambda m: m.group(2), text)


def _flow(entrypoint: str) -> Flow:
    path, _, name = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


def test_every_deployment_targets_a_flow_with_valid_parameters(spec, monkeypatch):
    names = set()
    for deployment in spec["deployments"]:
        names.add(deployment["name"])
        flow = _flow(deployment["entrypoint"])
        assert isinstance(flow, Flow), deployment["entrypoint"]
        # Prefect validates a run's parameters against the flow's signature like this, once
        # `prefect deploy` has put the live source (CNNLSTM_LIVE_SOURCE) in its place
        monkeypatch.setenv("CNNLSTM_LIVE_SOURCE", "qlib:/market/cn_data")
        parameters = apply_values(deployment.get("parameters", {}), {}, remove_notset=False)
        flow.validate_parameters(parameters)
    assert {"backtest-docker", "walk-forward-docker", "sweep-docker"} <= names


def test_deployments_use_the_docker_pool_image_network_and_volume_of_compose(spec, compose):
    worker = compose["services"]["docker-worker"]["command"]
    pool = _default(worker[worker.index("--pool") + 1])
    image = _default(compose["services"]["worker"]["image"])
    network = compose["networks"]["backend"]["name"]
    data_volume = compose["volumes"]["data"]["name"]  # fixed: no project-name prefix
    assert "data" in compose["volumes"]
    worker_env = compose["services"]["worker"]["environment"]
    for deployment in spec["deployments"]:
        job = deployment["work_pool"]["job_variables"]
        assert deployment["work_pool"]["name"] == pool
        assert job["image"] == image
        assert job["networks"] == [network]
        assert job["volumes"] == [f"{data_volume}:/data"]
        # the same environment as the process pool's worker: one data home, one MLflow
        for key in ("CNNLSTM_HOME", "MLFLOW_TRACKING_URI", "PREFECT_LOCAL_STORAGE_PATH"):
            assert job["env"][key] == worker_env[key], key


def test_the_working_directory_is_where_the_image_installs_the_project(spec):
    (step,) = spec["pull"]
    directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
    assert f"WORKDIR {directory}" in (DOCKER / "Dockerfile").read_text()


def test_schedules_are_valid_crons_or_rrules_with_time_zones(spec):
    from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule

    scheduled = [d for d in spec["deployments"] if d.get("schedules")]
    assert scheduled
    for deployment in scheduled:
        for schedule in deployment["schedules"]:
            if "rrule" in schedule:
                RRuleSchedule(rrule=schedule["rrule"], timezone=schedule["timezone"])
            else:
                CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])


def test_the_compose_worker_pulls_from_the_pool_prefect_yaml_deploys_to(compose):
    process = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    pools = {d["work_pool"]["name"] for d in process["deployments"]}
    worker = compose["services"]["worker"]["command"]
    assert pools == {_default(worker[worker.index("--pool") + 1])}
    assert worker[worker.index("--type") + 1] == "process"
