from __future__ import annotations

import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest import MarketConfig


def test_presets_and_overrides():
    cn = MarketConfig.preset("cn")
    # Bands, stamp duty and lots come from the dated rule table (None: not one flat number).
    assert (cn.t_plus_1, cn.price_limit, cn.stamp_duty_rate, cn.min_commission) == (
        True,
        None,
        None,
        5.0,
    )
    assert (cn.rules, cn.lot_size) == ("cn", None)
    us = MarketConfig.preset("us")
    assert (us.t_plus_1, us.price_limit, us.stamp_duty_rate) == (False, None, 0.0)
    assert (us.rules, us.lot_size, us.rule_table().is_empty()) == ("none", 1, True)
    assert MarketConfig.preset("cn", lot_size=100, price_limit=0.2).lot_size == 100
    free = MarketConfig.frictionless()
    assert free.commission_rate == free.slippage_rate == free.min_commission == 0


def test_bad_preset_and_override_raise_readably():
    with pytest.raises(UserInputError, match="unknown market 'hk'"):
        MarketConfig.preset("hk")
    with pytest.raises(UserInputError, match="invalid market override"):
        MarketConfig.preset("cn", commission_rate=-1)
    with pytest.raises(UserInputError, match="invalid market override"):
        MarketConfig.preset("us", typo_rate=0.1)
