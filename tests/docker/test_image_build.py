"""The project image builds and runs a tiny backtest, where a Docker engine and the base image
are at hand (the build pulls nothing it cannot reach: a site passes its own BASE_IMAGE,
TORCH_INDEX_URL and PIP_INDEX_URL); elsewhere the test skips saying which one is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("CNNLSTM_TEST_BASE_IMAGE", "python:3.11-slim-bookworm")


def _engine_and_base() -> str | None:
    """Why the image cannot be built here, or None when it can."""
    if shutil.which("docker") is None:
        return "no docker command on PATH"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        return f"no Docker engine reachable ({(info.stderr.strip().splitlines() or ['?'])[-1]})"
    image = subprocess.run(["docker", "image", "inspect", BASE], capture_output=True, timeout=60)
    if image.returncode != 0:
        return (
            f"base image {BASE} is not present locally and no registry is reachable here; "
            "load it (docker load) or set CNNLSTM_TEST_BASE_IMAGE to one that is"
        )
    return None


def test_the_image_builds_and_runs_a_tiny_backtest(tmp_path):
    missing = _engine_and_base()
    if missing:
        pytest.skip(missing)
    args = [f"BASE_IMAGE={BASE}"] + [
        f"{k}={os.environ[k]}" for k in ("TORCH_INDEX_URL", "PIP_INDEX_URL") if k in os.environ
    ]
    build = ["docker", "build", "-f", "docker/Dockerfile", "-t", "cnnlstm:test"]
    for arg in args:
        build += ["--build-arg", arg]
    done = subprocess.run([*build, "."], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    market = tmp_path / "market"
    market.mkdir()
    run = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{market}:/market:ro", "cnnlstm:test",
         "cnnlstm", "backtest", "--profile", "fast", "--sim", "n_stocks=40",
         "--set", "cnn.epochs=1", "--set", "lstm.epochs=1", "--no-mlflow"],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Annualized return" in run.stdout + run.stderr
