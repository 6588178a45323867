"""The measured dust-sell case on the simulated market, end to end without training (slow).

`--sim n_stocks=30 --sim start=2012-01-01 --sim end=2017-12-31`: momentum sold 3.17e-11 shares
for the 5.0 minimum commission under the old fractional `cn` preset; cash went to -5 and the
nav schema lost the run. Momentum and the equal-weighted universe need no network, so the
backtest is rebuilt here from the sim source, the CNN features and the momentum selection,
with the old fractional shares (`lot_size=0`) and with the dated rules' lots.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.features.cnn import CnnFeatureConfig, build_cnn_features
from cnnlstm.tasks.strategy.select import (
    SelectionConfig,
    momentum_scores,
    select_top,
    universe_selection,
)
from cnnlstm.tasks.strategy.strategies import StrategySet, run_strategies

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim_inputs():
    data = load_source("sim:", n_stocks=30, start=date(2012, 1, 1), end=date(2017, 12, 31))
    features = build_cnn_features(data.bars, CnnFeatureConfig())
    test = features.filter(pl.col("month") >= date(2016, 6, 1))
    momentum = momentum_scores(test)
    inputs = StrategySet(
        universe=universe_selection(momentum), momentum=select_top(momentum, SelectionConfig())
    )
    return data, inputs


@pytest.mark.parametrize("lot_size", [0, None])
def test_momentum_never_pays_a_minimum_on_dust_and_cash_stays_positive(sim_inputs, lot_size):
    data, inputs = sim_inputs
    cfg = MarketConfig.preset("cn", lot_size=lot_size)
    run = run_strategies(
        data.bars,
        inputs,
        cfg,
        start=date(2016, 6, 1),
        end=date(2017, 12, 31),
        benchmark=data.benchmark,
    )
    trades = run.result.trades
    assert {"equal_weight", "momentum"} <= set(run.result.nav["strategy"].unique().to_list())
    assert (run.result.nav["cash"] >= 0).all()
    assert (run.result.nav["position_ratio"] <= 1.0 + 1e-9).all()
    dust = trades.filter(pl.col("raw_shares") < 1)
    assert (dust["cost"] == 0).all()
    assert not run.result.failed
