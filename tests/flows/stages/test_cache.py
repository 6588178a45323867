"""The stage runner's record: each stage's state and wall seconds, submitted stages included."""

from __future__ import annotations

import time

import pytest
from prefect import flow, task

from cnnlstm.flows.stages.cache import StageRunner

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
