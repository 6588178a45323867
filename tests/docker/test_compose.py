"""docker/compose.yaml validated statically (no Docker engine runs here): its structure, its
variables against docker/.env.example, what it publishes, and that every Prefect/MLflow setting
and command-line flag it uses is one the pinned versions understand."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
UIS = {"prefect-server": 4200, "mlflow": 5000}
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}; `$${VAR}` is an escaped literal
VAR_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SECRET = re.compile(r"PASSWORD|AUTH_STRING|SECRET|TOKEN")


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (DOCKER / "compose.yaml").read_text()


@pytest.fixture(scope="module")
def compose(compose_text) -> dict:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    entries: dict[str, str] = {}
    lines = (DOCKER / ".env.example").read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"malformed line: {line!r}"
        assert lines[i - 1].startswith("#"), f"{key} has no comment line explaining it"
        assert key not in entries, f"{key} listed twice"
        entries[key] = value
    return entries


def _substitute(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation, for the values in the example env file."""
    return VAR_REF.sub(lambda m: env.get(m.group(1)) or (m.group(3) or ""), value)


def test_services_and_their_roles(compose):
    services = compose["services"]
    assert {"postgres", "prefect-server", "mlflow", "worker"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["prefect-server"]["command"][:3] == ["prefect", "server", "start"]
    assert services["mlflow"]["command"][:2] == ["mlflow", "server"]
    worker = services["worker"]["command"]
    assert worker[:3] == ["prefect", "worker", "start"]
    assert worker[worker.index("--type") + 1] == "process"
    docker_worker = services["docker-worker"]
    assert docker_worker["profiles"] == ["docker-pool"], "the socket-mounting worker is opt-in"
    assert docker_worker["command"][docker_worker["command"].index("--type") + 1] == "docker"
    # the project image serves the server, MLflow and the worker: one version of everything
    for name in ("prefect-server", "mlflow", "worker"):
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
        assert (DOCKER / services[name]["build"]["context"] / "docker" / "Dockerfile").is_file()


def test_every_variable_is_documented_in_the_example_env(compose_text, env_example):
    referenced = {m.group(1) for m in VAR_REF.finditer(compose_text)}
    assert referenced, "compose.yaml references no variables: the regex is broken"
    assert referenced - env_example.keys() == set(), "undocumented variables"
    assert env_example.keys() - referenced == set(), "example lists variables compose ignores"


def test_secrets_have_no_defaults_and_are_required(compose_text):
    refs = [m for m in VAR_REF.finditer(compose_text) if SECRET.search(m.group(1))]
    assert {m.group(1) for m in refs} >= {
        "POSTGRES_PASSWORD",
        "PREFECT_DB_PASSWORD",
        "MLFLOW_DB_PASSWORD",
        "PREFECT_AUTH_STRING",
    }
    for m in refs:
        assert m.group(2) in (None, ":?"), f"secret {m.group(1)} has a default: {m.group(0)}"
    required = {m.group(1) for m in refs if m.group(2) == ":?"}
    assert required == {m.group(1) for m in refs}, "each secret must be required somewhere"


def test_the_real_env_file_is_not_committed():
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "docker/.env"], cwd=ROOT, capture_output=True
    )
    assert ignored.returncode == 0, "docker/.env must be git-ignored"
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", "docker/.env"], cwd=ROOT, capture_output=True
    )
    assert tracked.returncode != 0, "docker/.env is tracked"


def test_only_the_uis_publish_ports_and_only_on_the_bind_address(compose):
    services = compose["services"]
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == set(UIS)
    for name, container_port in UIS.items():
        (mapping,) = services[name]["ports"]
        bind, _host_port, port = mapping.rsplit(":", 2)
        assert bind.startswith("${UI_BIND_ADDRESS:-127.0.0.1}"), mapping
        assert int(port) == container_port
    for name, svc in services.items():
        assert "network_mode" not in svc, f"{name} leaves the compose network"
        assert svc.get("networks") == ["backend"], name


def test_backends_are_postgres_and_the_api_is_protected(compose, env_example):
    services = compose["services"]
    server = services["prefect-server"]["environment"]
    url = _substitute(server["PREFECT_API_DATABASE_CONNECTION_URL"], env_example)
    assert url == (
        f"postgresql+asyncpg://prefect:{env_example['PREFECT_DB_PASSWORD']}@postgres:5432/prefect"
    )
    assert server["PREFECT_SERVER_API_AUTH_STRING"].startswith("${PREFECT_AUTH_STRING")
    for client in ("worker", "docker-worker"):
        env = services[client]["environment"]
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert env["PREFECT_API_AUTH_STRING"] == "${PREFECT_AUTH_STRING}"
    mlflow = services["mlflow"]["command"]
    backend = _substitute(mlflow[mlflow.index("--backend-store-uri") + 1], env_example)
    assert backend == (
        f"postgresql://mlflow:{env_example['MLFLOW_DB_PASSWORD']}@postgres:5432/mlflow"
    )
    artifacts = mlflow[mlflow.index("--artifacts-destination") + 1]
    assert any(v.endswith(":" + artifacts) for v in services["mlflow"]["volumes"])
    assert services["worker"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_postgres_init_creates_the_roles_and_databases_the_urls_use(compose):
    svc = compose["services"]["postgres"]
    (init,) = [v for v in svc["volumes"] if "docker-entrypoint-initdb.d" in v]
    script = (DOCKER / init.split(":")[0]).read_text()
    for name in ("prefect", "mlflow"):
        assert f"CREATE ROLE {name} LOGIN PASSWORD" in script
        assert f"CREATE DATABASE {name} OWNER {name}" in script
    for var in ("PREFECT_DB_PASSWORD", "MLFLOW_DB_PASSWORD"):
        assert f"${var}" in script and var in svc["environment"]


def test_prefect_settings_used_are_known_to_prefect(compose, monkeypatch, env_example):
    from prefect.settings import Settings

    for key in list(os.environ):
        if key.startswith("PREFECT_"):
            monkeypatch.delenv(key)
    baseline = Settings().to_environment_variables(exclude_unset=True)
    for name, svc in compose["services"].items():
        if svc.get("command", [""])[0] != "prefect":
            continue  # PREFECT_DB_PASSWORD on postgres feeds its init script, not Prefect
        for key, value in svc.get("environment", {}).items():
            if not key.startswith("PREFECT_"):
                continue
            with monkeypatch.context() as mp:
                mp.setenv(key, _substitute(str(value), env_example))
                seen = Settings().to_environment_variables(exclude_unset=True)
            assert seen != baseline, f"{name}: {key} is not a Prefect setting"


@pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow.store.tracking.sqlalchemy_store")
def test_mlflow_settings_and_flags_are_known_to_mlflow(compose):
    import mlflow.environment_variables as mlflow_env
    from mlflow.cli import server as server_command

    svc = compose["services"]["mlflow"]
    for key in svc["environment"]:
        assert hasattr(mlflow_env, key), f"{key} is not an MLflow environment variable"
    assert hasattr(mlflow_env, "MLFLOW_TRACKING_URI")
    flags = {opt for p in server_command.params for opt in p.opts}
    used = {arg for arg in svc["command"] if arg.startswith("--")}
    assert used <= flags, f"unknown mlflow server flags: {used - flags}"


@pytest.mark.parametrize(
    ("service", "subcommand"),
    [("prefect-server", ["server", "start"]), ("worker", ["worker", "start"])],
)
def test_prefect_cli_flags_are_known_to_prefect(compose, service, subcommand, tmp_path):
    helptext = subprocess.run(
        [str(Path(sys.executable).parent / "prefect"), *subcommand, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PREFECT_HOME": str(tmp_path)},
    ).stdout
    used = {arg for arg in compose["services"][service]["command"] if arg.startswith("--")}
    assert used, "no flags found"
    for flag in used:
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helptext), (
            f"`prefect {' '.join(subcommand)}` has no {flag}"
        )


def _check_secrets():
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_secrets", DOCKER / "check_secrets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_stack_refuses_the_example_passwords(compose, env_example, tmp_path):
    checks = _check_secrets()
    examples = checks.example_values(DOCKER / ".env.example")
    secrets_in_example = {k for k in env_example if SECRET.search(k)}
    assert set(examples) == secrets_in_example
    assert len(checks.problems(dict(env_example), examples)) == len(examples)  # all refused
    good = {k: "x" * 8 + k.lower() + "-9f8e7d6c5b4a" for k in examples}
    good["PREFECT_AUTH_STRING"] = "admin:" + "k" * 24
    assert checks.problems(good, examples) == []
    short = good | {"MLFLOW_SECRET_KEY": "short"}
    assert checks.problems(short, examples) == ["MLFLOW_SECRET_KEY is shorter than 16 characters"]
    # the script itself, as compose's secrets-check service runs it: exit 1 on the examples
    env = {"PATH": os.environ["PATH"]} | env_example
    refused = subprocess.run(
        [sys.executable, str(DOCKER / "check_secrets.py"), str(DOCKER / ".env.example")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1 and "example value" in refused.stderr
    assert "change-me" not in refused.stderr  # it names variables, never values
    # the check gets every secret of the example file
    service = compose["services"]["secrets-check"]
    assert set(service["environment"]) == secrets_in_example
    assert service["command"][1:] == ["/checks/check_secrets.py", "/checks/.env.example"]


def test_every_service_waits_for_the_secrets_check(compose):
    services = compose["services"]

    def waits(name: str, seen: frozenset = frozenset()) -> bool:
        deps = services[name].get("depends_on", {})
        if deps.get("secrets-check", {}).get("condition") == "service_completed_successfully":
            return True
        return any(waits(d, seen | {name}) for d in deps if d not in seen)

    for name in services:
        if name != "secrets-check":
            assert waits(name), f"{name} can start before the secrets check"


def test_mlflow_requires_authentication(compose):
    svc = compose["services"]["mlflow"]
    command = svc["command"]
    assert command[command.index("--app-name") + 1] == "basic-auth"
    env = svc["environment"]
    config_path = env["MLFLOW_AUTH_CONFIG_PATH"]
    (mount,) = [v for v in svc["volumes"] if v.endswith(":" + config_path + ":ro")]
    ini = (DOCKER / mount.split(":")[0]).read_text()
    assert "default_permission = READ" in ini and "admin_password" not in ini
    auth_db = re.search(r"database_uri = sqlite:////([^/]+)/", ini).group(1)
    assert any(v.endswith(":/" + auth_db) for v in svc["volumes"]), "auth store not on a volume"
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"].startswith("${MLFLOW_ADMIN_PASSWORD:?")
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"].startswith("${MLFLOW_SECRET_KEY:?")
    worker = compose["services"]["worker"]["environment"]
    assert worker["MLFLOW_TRACKING_PASSWORD"] == "${MLFLOW_ADMIN_PASSWORD}"


def test_prefect_api_has_csrf_protection_and_one_allowed_origin(compose):
    env = compose["services"]["prefect-server"]["environment"]
    assert env["PREFECT_SERVER_CSRF_PROTECTION_ENABLED"] == "true"
    assert env["PREFECT_SERVER_API_AUTH_STRING"].startswith("${PREFECT_AUTH_STRING")
    origin = env["PREFECT_SERVER_CORS_ALLOWED_ORIGINS"]
    assert "*" not in origin and origin.startswith("${PREFECT_UI_ORIGIN")


def _compose_commands() -> list[tuple[str, list[str]]]:
    found = []
    if shutil.which("docker-compose"):
        found.append(("docker-compose", ["docker-compose"]))
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            found.append(("docker compose", ["docker", "compose"]))
    return found


@pytest.mark.parametrize("variant", ["docker-compose", "docker compose"])
def test_the_compose_binaries_accept_the_file(variant, tmp_path):
    commands = dict(_compose_commands())
    if variant not in commands:
        pytest.skip(
            f"`{variant}` is not installed here (docker-compose 1.29: apt-get install -y "
            "docker-compose; Compose v2: the docker-compose-plugin)"
        )
    base = [*commands[variant], "-f", str(DOCKER / "compose.yaml")]
    done = subprocess.run(
        [*base, "--env-file", str(DOCKER / ".env.example"), "config"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert config["volumes"]["data"]["name"] == "cnnlstm_data"
    assert any(
        str(v.get("target") if isinstance(v, dict) else v).rstrip(":ro").endswith("/market")
        for v in config["services"]["worker"]["volumes"]
    )
    # without the secrets the file is refused, naming the variable
    env = {k: v for k, v in os.environ.items() if not SECRET.search(k)}
    empty = tmp_path / "empty.env"
    empty.write_text("# no secrets\n")
    refused = subprocess.run(
        [*base, "--env-file", str(empty), "config"], capture_output=True, text=True,
        cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr + refused.stdout


def test_the_auth_app_caches_credential_checks():
    """Without the cache every request pays the password hash: bench/mlflow_auth_cost.py
    measured 1322 ms per request against 64 ms with it (73 ms without auth) on a busy machine."""
    import configparser

    ini = configparser.ConfigParser()
    ini.read(DOCKER / "mlflow" / "basic_auth.ini")
    assert 0 < ini.getint("mlflow", "auth_cache_ttl_seconds") <= 300


def test_deploy_md_starts_mlflow_as_compose_does(compose):
    deploy = (ROOT / "docs" / "DEPLOY.md").read_text()
    command = deploy[deploy.index("mlflow server --backend-store-uri") - 60 :][:400]
    assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in command and "--workers 1" in command
    mlflow = compose["services"]["mlflow"]
    assert mlflow["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    workers = mlflow["command"][mlflow["command"].index("--workers") + 1]
    assert workers.endswith(":-1}")
