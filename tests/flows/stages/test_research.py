"""The research chain's plan and members: one fold for the backtest, a typed seed ensemble."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from cnnlstm.flows.params import Period, Protocol
from cnnlstm.flows.stages.research import Member, Plan, stage_label

PROTOCOL = Protocol(
    train=Period(start=date(2011, 3, 1), end=date(2012, 12, 31)),
    test=Period(start=date(2013, 1, 1), end=date(2013, 12, 31)),
)


def test_the_backtest_is_one_fold_trained_on_the_protocols_training_period():
    span = Period(start=date(2010, 1, 1), end=date(2013, 12, 31))
    plan = Plan.single(PROTOCOL, span)
    (fold,) = plan.folds
    (block,) = plan.blocks
    assert (fold.test, fold.cnn_train, fold.block) == (PROTOCOL.test, PROTOCOL.train, 0)
    assert block.train == PROTOCOL.train and plan.ingest_span == span
    assert stage_label("train_cnn", fold.name, Member(seed=1).tag(True)) == "train_cnn seed 1"


def test_the_ensemble_is_a_typed_member_not_a_label():
    ensemble, seed = Member(), Member(seed=0)
    assert ensemble.ensemble and not seed.ensemble
    assert (ensemble.label, seed.label) == ("ensemble", "0")
    assert (ensemble.tag(True), seed.tag(True), seed.tag(False)) == (" ensemble", " seed 0", "")
    assert stage_label("select", "2013-02", ensemble.tag(True)) == "select 2013-02 ensemble"
    assert Member(seed=0) == seed and len({Member(), Member(), seed}) == 2  # keys of a dict


def test_a_plan_needs_a_fold_and_a_block():
    with pytest.raises(ValidationError):
        Plan(protocol=PROTOCOL, ingest_span=None, folds=[], blocks=[])
