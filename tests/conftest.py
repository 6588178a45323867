"""Shared fixtures: where the real data sets live, and a clean project home per test."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data sets in ../shared/data; tests that need them skip without them."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (read-only ../shared/data)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _project_home(tmp_path_factory, monkeypatch):
    """Point the project's data directory at a temporary folder so tests never touch ./data."""
    monkeypatch.setenv("CNNLSTM_HOME", str(tmp_path_factory.mktemp("cnnlstm_home")))


@pytest.fixture(autouse=True)
def _live_simulator_allowed(monkeypatch):
    """The live flows refuse the simulated market unless allowed; the tests run them on it.

    Tests of the refusal itself remove the setting (`monkeypatch.delenv`).
    """
    monkeypatch.setenv("CNNLSTM_LIVE_ALLOW_SIMULATOR", "1")
