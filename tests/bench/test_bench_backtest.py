"""bench/bench_backtest.py: its pandas reference loop and the numba kernel agree trade for trade.

The bench's ratios mean something only if both implement the same rules; this runs the bench's
own comparison (every case: monthly, timed, close execution, a tight-capital equal-weighted
universe, random open/close instructions) on a tiny market.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_backtest.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_backtest", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pandas_loop_and_kernel_agree_on_every_case():
    bench = _bench()
    cases = bench.check_cases(60, 150)
    blocked = 0
    for market, name, orders, cfg in cases:
        _, _, n_trades, n_blocked = bench.check_same(market, orders, cfg)
        assert n_trades > 0, name
        blocked += n_blocked
    assert blocked > 0  # the rules were exercised, not only plain fills


def test_pandas_loop_refuses_rules_it_does_not_implement():
    bench = _bench()
    market, _, orders, _ = bench.check_cases(20, 60)[0]
    dated = bench.MarketConfig.preset("cn")
    with pytest.raises(ValueError, match="flat rules"):
        bench.naive_backtest(market, orders, dated)
