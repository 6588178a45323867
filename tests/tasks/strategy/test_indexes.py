"""The monthly equal-weighted index against the independent yardstick, and the lot capital."""

from __future__ import annotations

import runpy
import sys
from datetime import date

import numpy as np
import polars as pl
import pytest

from cnnlstm.tasks.backtest import MarketConfig, market_arrays
from cnnlstm.tasks.backtest.api import market_rules
from cnnlstm.tasks.strategy.indexes import (
    equal_weight_capital_needed,
    monthly_equal_weight_index,
    monthly_index_nav,
)
from cnnlstm.tasks.strategy.strategies import equal_weight_index
from tests.tasks.backtest.helpers import FEB, MAR, flat_market, selection


def test_monthly_index_holds_each_month_from_its_rebalance_close():
    # A doubles in February, B is flat; March rebalances 50/50 from February's last close.
    closes = {"A": [10, 10, 12, 14, 16, 20, 20.0], "B": [5, 5, 5, 5, 5, 5, 10.0]}
    market = flat_market(closes)
    universe = pl.concat([selection(FEB, "A", "B"), selection(MAR, "A", "B")])
    nav = monthly_equal_weight_index(market, universe)
    feb = (np.array([12, 14, 16, 20]) / 10 + 1) / 2
    np.testing.assert_allclose(nav[:2], 1.0)  # before month one: cash
    np.testing.assert_allclose(nav[2:6], feb)
    np.testing.assert_allclose(nav[6], feb[-1] * (1 + 2) / 2)  # A flat, B doubles in March


def test_lot_capital_is_the_slots_times_a_lot():
    market = flat_market({"A": [10.0] * 7, "B": [30.0] * 7, "C": [20.0] * 7})
    universe = selection(FEB, "A", "B", "C")
    rules = market_rules(market, MarketConfig.preset("cn", rules="none", lot_size=100))
    need = equal_weight_capital_needed(market, universe, rules)
    assert need == pytest.approx(3 * np.quantile([1000, 3000, 2000], 0.95))


def test_monthly_index_matches_the_yardstick(shared_data, monkeypatch):
    from cnnlstm.tasks.data.sources.qlib import load

    tool = shared_data.parent / "tools" / "reference_baselines.py"
    if not tool.is_file():
        pytest.skip(f"yardstick {tool} not found")
    root = shared_data / "cn-qlib-csi300-sample"
    start, end = "2016-01-01", "2019-12-31"
    monkeypatch.setattr(sys, "argv", [str(tool), str(root), start, end, "0.1"])
    ref = runpy.run_path(str(tool), run_name="__main__")  # the yardstick's own functions
    months, symbols, ret = ref["um"], ref["stocks"], ref["ret"]
    rows = []
    for j in ref["test"]:
        past = np.column_stack([ret(i) for i in range(j - 12, j - 1)])
        ok = np.isfinite(past).all(1) & np.isfinite(ret(j))  # the yardstick's eligibility
        month = months[j].astype("datetime64[D]").astype(date)
        rows += [(month, symbols[i]) for i in np.flatnonzero(ok)]
    universe = pl.DataFrame(rows, schema={"month": pl.Date, "symbol": pl.String}, orient="row")
    bars = load("qlib", str(root)).bars.filter(pl.col("date") <= date(2020, 1, 31))
    first = bars.filter(pl.col("date") < date(2016, 1, 1))["date"].max()
    dates = market_arrays(bars, start=first, end=date(2019, 12, 31)).dates
    index = monthly_index_nav(bars, universe, dates)
    nav = index["nav"].to_numpy()
    ends = nav[np.append(np.diff([d.month for d in dates]) != 0, True)]  # month-end values
    ours = ends[1:] / ends[:-1] - 1.0  # December 2015's close is the start
    assert len(ours) == len(ref["ew"]) == 48
    # Same rule, same data: month by month to float32 price precision.
    np.testing.assert_allclose(ours, ref["ew"], rtol=0, atol=1e-6)
    # The daily-rebalanced index answers another question: not the yardstick's number.
    daily = equal_weight_index(bars, start=first, end=date(2019, 12, 31))["close"].to_numpy()
    assert abs(daily[-1] - nav[-1]) > 1e-3
