"""`--seed`/`--seeds`/`--cost` on backtest and walk-forward; the walk-forward command's params."""

from __future__ import annotations

import pytest

from cnnlstm.cli.commands import backtest, walk_forward
from cnnlstm.cli.main import build_parser, main


def _backtest(*argv: str):
    return backtest.build_params(build_parser().parse_args(["backtest", *argv]))


def _walk_forward(*argv: str):
    return walk_forward.build_params(build_parser().parse_args(["walk-forward", *argv]))


def test_seed_flags_set_the_training_seeds():
    assert _backtest().seeds is None  # the training configs' own seed, as before
    assert _backtest("--seeds", "3").seeds == (0, 1, 2)
    assert _backtest("--seeds", "0,4,7").seeds == (0, 4, 7)
    assert _backtest("--seed", "5").seeds == (5,)
    assert _backtest("--seeds", "3", "--set", "seeds=[9]").seeds == (9,)  # an explicit --set wins


BAD = [
    ["--seeds", "0"],
    ["--seeds", "1,1"],
    ["--seeds", "x"],
    ["--seed", "1", "--seeds", "2"],
    ["--cost", "commission"],
]


@pytest.mark.parametrize("bad", BAD)
def test_bad_seed_or_cost_flags_are_usage_errors(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["backtest", *bad])
    assert exit_.value.code == 2


def test_cost_overrides_reach_the_market_config():
    params = _backtest("--cost", "commission=0.0003", "--cost", "min_commission=1")
    market = params.market_config()
    assert market.commission_rate == 0.0003 and market.min_commission == 1.0
    assert _backtest("--cost", "slippage=0.002").market_config().slippage_rate == 0.002


def test_walk_forward_takes_the_research_flags_seeds_and_its_own():
    params = _walk_forward("--seeds", "2", "--lstm-every", "2", "--cost", "commission=0.0001")
    research = params.research
    assert research.seeds == (0, 1) and params.lstm_every == 2
    assert research.market_config().commission_rate == 0.0001
    assert research.tracking.experiment == "cnnlstm-walk-forward"
    assert not research.tracking.register_models
    train = research.protocol.train
    months = (train.end.year - train.start.year) * 12 + train.end.month - train.start.month + 1
    assert params.train_months == months  # default: the protocol's training length
    assert _walk_forward("--train-months", "24", "--experiment", "wf").train_months == 24
    assert _walk_forward("--experiment", "wf").research.tracking.experiment == "wf"
