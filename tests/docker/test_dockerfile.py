"""docker/Dockerfile validated statically: it installs with the commands CI runs, pins the torch
that the project pins, switches CPU/CUDA only through the wheel index, and runs unprivileged."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return _instructions(DOCKERFILE.read_text())


def _args(steps) -> dict[str, str]:
    return dict(arg.split("=", 1) for kind, arg in steps if kind == "ARG" and "=" in arg)


def test_ci_runs_setup_sh_and_so_does_the_image(steps):
    # the chain CI runs: .ci/run -> scripts/test.sh -> scripts/setup.sh
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "bash scripts/test.sh" in ci_lines, "CI must run the README's test command"
    assert "bash scripts/setup.sh" in (ROOT / "scripts" / "test.sh").read_text()
    runs = [arg for kind, arg in steps if kind == "RUN"]
    assert "bash scripts/setup.sh" in runs, "the image must install with CI's own script"


def test_the_image_pins_the_torch_that_setup_and_pyproject_pin(steps):
    pinned = re.search(r'"torch==([^"]+)"', (ROOT / "scripts" / "setup.sh").read_text())
    assert pinned, "setup.sh no longer pins torch"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"torch=={pinned.group(1)}" in project["dependencies"]
    assert _args(steps)["TORCH_VERSION"] == pinned.group(1)


def test_cpu_by_default_cuda_by_build_argument(steps):
    assert _args(steps)["TORCH_VARIANT"] == "cpu"
    runs = [arg for kind, arg in steps if kind == "RUN"]
    (torch_step,) = [r for r in runs if "torch==" in r]
    words = shlex.split(torch_step)
    index = words[words.index("--index-url") + 1]
    # a site's own torch index by build argument, else PyTorch's index of the variant
    assert index == "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/${TORCH_VARIANT}}"
    assert _args(steps)["TORCH_INDEX_URL"] == ""
    assert "torch==${TORCH_VERSION}" in words
    # torch comes before setup.sh, so setup's `pip install torch==X` is already satisfied
    assert runs.index(torch_step) < runs.index("bash scripts/setup.sh")


def test_installs_the_postgres_drivers_the_servers_need(steps):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    drivers = " ".join(project["optional-dependencies"]["postgres"])
    assert "psycopg" in drivers and "asyncpg" in drivers
    runs = [arg for kind, arg in steps if kind == "RUN"]
    assert any(re.search(r"pip install -e \"?\.\[[^\]]*postgres", r) for r in runs)


def test_python_matches_the_project_and_runs_unprivileged(steps):
    base = _args(steps)["BASE_IMAGE"]  # a build argument: a site's own registry's image
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert base.startswith("python:" + requires.removeprefix(">=") + "-")
    (from_line,) = [arg for kind, arg in steps if kind == "FROM"]
    assert from_line == "${BASE_IMAGE}"
    users = [arg for kind, arg in steps if kind == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_build_context_leaves_out_the_venv_data_and_secrets():
    ignore = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().split()
    for entry in (".venv", ".git", "data", "mlruns", "docker/.env"):
        assert entry in ignore, entry


def test_market_data_is_a_volume_and_the_presets_paths_point_into_it(steps):
    volumes = " ".join(arg for kind, arg in steps if kind == "VOLUME")
    assert '"/market"' in volumes and '"/data"' in volumes
    runs = [arg for kind, arg in steps if kind == "RUN"]
    assert "ln -s /market /app/data" in runs  # configs/*.yaml say data/qlib/..., data/kaggle-...
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    assert any(v.endswith(":/market:ro") for v in compose["services"]["worker"]["volumes"])
    for preset in (ROOT / "configs").glob("*.yaml"):
        text = "\n".join(ln for ln in preset.read_text().splitlines() if ln.lstrip()[:1] != "#")
        for path in re.findall(r"(?:qlib|csv|parquet|akshare):([^\s#\"]+)", text):
            assert path.startswith("data/"), (preset.name, path)


def test_extras_and_package_index_are_build_arguments(steps):
    args = _args(steps)
    assert args["CNNLSTM_EXTRAS"] == "" and args["PIP_INDEX_URL"].startswith("https://")
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "${CNNLSTM_EXTRAS:+,$CNNLSTM_EXTRAS}" in setup
