"""The training stages: how a training runs (threads, progress bar, devices) is not what it
computes, so changing it reuses the cached training."""

from __future__ import annotations

from datetime import date

import pytest
from prefect import flow

from cnnlstm.flows.params import Period
from cnnlstm.flows.stages.training import TrainedRef, train_cnn_stage
from cnnlstm.infra.artifacts import ArtifactRef, write_table
from cnnlstm.tasks.data.sources.sim import SimConfig, simulate_market
from cnnlstm.tasks.features import CnnFeatureConfig, build_cnn_features
from cnnlstm.tasks.training.config import CnnTrainConfig

pytestmark = pytest.mark.usefixtures("prefect_harness")

TRAIN = Period(start=date(2011, 3, 1), end=date(2012, 12, 31))


@flow
def _train_twice(features: ArtifactRef, first: CnnTrainConfig, second: CnnTrainConfig):
    one = train_cnn_stage(features, first, TRAIN, return_state=True)
    two = train_cnn_stage(features, second, TRAIN, return_state=True)
    return (one.name, one.result()), (two.name, two.result())


def _features() -> ArtifactRef:
    sim = SimConfig(n_stocks=40, start=date(2010, 1, 1), end=date(2012, 12, 31), seed=5)
    return write_table(build_cnn_features(simulate_market(sim).bars, CnnFeatureConfig()), "t")


def test_changing_the_thread_count_or_the_progress_bar_reuses_the_cached_training():
    features = _features()
    base = {"epochs": 1, "batch_size": 256, "seed": 11}
    first = CnnTrainConfig(**base, threads=1, progress_bar=False)
    second = CnnTrainConfig(**base, threads=2, progress_bar=True, precision="32-true")
    (state_one, one), (state_two, two) = _train_twice(features, first, second)
    assert state_one == "Completed" and state_two == "Cached"
    assert isinstance(two, TrainedRef) and two == one  # the first training's checkpoint
    assert two.metrics["torch_threads"] == 1.0  # trained once, with the first's thread count
    # what the fit computes is part of the key: another seed trains again
    (_, _), (state_three, three) = _train_twice(
        features, first, first.model_copy(update={"seed": 12})
    )
    assert state_three == "Completed" and three.checkpoint != one.checkpoint
