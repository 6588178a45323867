"""The stage runner's record: each stage's state, wall seconds and peak memory, submitted stages
included; and stage caches that belong to their data home."""

from __future__ import annotations

import time

import pytest
from prefect import flow, task

from cnnlstm.flows.stages.cache import StageRunner, stage_task

pytestmark = pytest.mark.usefixtures("prefect_harness")


@task
def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@flow
def _side_by_side() -> tuple[dict[str, str], dict[str, float]]:
    run = StageRunner()
    short, long = run.submit(_sleep, 0.2), run.submit(_sleep, 2.0)
    assert run.collect(long, "long") == 2.0
    assert run.collect(short, "short") == 0.2  # collected after the long one had finished
    return run.states, run.seconds


def test_submitted_stages_get_their_own_wall_seconds():
    states, seconds = _side_by_side()
    assert states == {"long": "Completed", "short": "Completed"}
    assert seconds["long"] >= 2.0 and 0.2 <= seconds["short"] < 2.0, seconds


@task
def _hold(mib: int) -> int:
    import numpy as np

    block = np.ones(mib * 1024**2 // 8)
    time.sleep(0.2)
    return int(block.size > 0) * mib


@flow
def _memory_flow() -> dict[str, float]:
    run = StageRunner()
    run(_hold, 400, label="big")
    run(_hold, 1, label="small")
    run.collect(run.submit(_hold, 401), "submitted")  # not 400: that result is cached
    return run.peak_rss_mib


def test_each_stage_gets_the_peak_memory_of_the_process_while_it_ran():
    peaks = _memory_flow()
    assert peaks["big"] > peaks["small"] + 300, peaks  # 400 MiB held in the big stage only
    assert peaks["submitted"] > peaks["small"] + 300, peaks  # a submitted stage too


@stage_task("home_probe", version=1)
def _home_probe(value: int) -> int:
    return value


@flow
def _probe_flow() -> str:
    run = StageRunner()
    run(_home_probe, 7)
    return run.states["home_probe"]


def test_two_data_homes_never_share_stage_caches_on_one_prefect_database(tmp_path, monkeypatch):
    """One Prefect database (the user's Prefect home, or a copy of the template) for both."""
    monkeypatch.setenv("CNNLSTM_HOME", str(tmp_path / "a"))
    assert _probe_flow() == "Completed"
    assert _probe_flow() == "Cached"
    monkeypatch.setenv("CNNLSTM_HOME", str(tmp_path / "b"))
    assert _probe_flow() == "Completed"  # home b computes: a's cache record is not b's
    monkeypatch.setenv("CNNLSTM_HOME", str(tmp_path / "a"))
    assert _probe_flow() == "Cached"
