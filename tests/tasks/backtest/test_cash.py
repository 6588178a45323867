"""Cash is a hard limit (issue 9 item 6): dust, minimum commissions, ruin, isolated failures.

The two measured cases, rebuilt by hand:
* a rebalancing trim of a few thousandths of a share paid the 5.0 minimum commission and left
  cash at -5 (`--sim n_stocks=30 ...` momentum: 3.17e-11 shares);
* an equal-weighted universe of many tiny slots paid the minimum on every trade until its NAV
  went negative (full A-share run, 2017-2020).
Both lost the whole run at the nav schema; now neither can happen and a ruined strategy stops.
"""

from __future__ import annotations

import polars as pl
import pytest

from cnnlstm.tasks.backtest import MarketConfig, run_backtest
from cnnlstm.tasks.backtest.api import StrategyOrders, market_arrays
from cnnlstm.tasks.strategy.strategies import StrategySet, monthly_orders, run_strategies
from tests.tasks.backtest.helpers import DATES, FEB, MAR, bars_from, flat_market, selection


def _month_pair(sym_prices: dict[str, list[float]]) -> pl.DataFrame:
    return bars_from(sym_prices, sym_prices)


def test_a_trim_smaller_than_one_share_is_not_made_and_pays_no_minimum():
    # Close execution keeps A and B across Feb -> Mar; at March's allocation (Feb 6 close) A
    # is 0.00995 CNY over its slot: the old kernel sold 0.000995 shares for a 5.0 commission
    # (cash -4.99); a trade below one share is now not made.
    cfg = MarketConfig(min_commission=5.0, lot_size=0, initial_capital=2000.0)
    a = [10, 10, 10, 10, 10, 10.0002, 10.0002]
    b = [10.0] * 7
    market = market_arrays(_month_pair({"A": a, "B": b}))
    sel = pl.concat([selection(FEB, "A", "B"), selection(MAR, "A", "B")])
    res = run_backtest(
        market, [monthly_orders(market, "s", sel, execution="close")], cfg, record_positions=True
    )
    trades = res.trades
    assert trades.filter(pl.col("reason") == "rebalance").height == 0
    assert (trades["raw_shares"] >= 1).all()
    assert (res.nav["cash"] >= 0).all()
    assert res.rule_counts["s"]["not_made.below_one_lot"] >= 1


def test_dust_position_is_closed_without_cost():
    # Fractional shares: 0.5 share of a 1,000 CNY stock is closed at month end at no cost.
    cfg = MarketConfig(min_commission=5.0, commission_rate=0.001, lot_size=0, initial_capital=505)
    market = flat_market({"A": [1000.0] * 7})
    res = run_backtest(market, [monthly_orders(market, "s", selection(FEB, "A"))], cfg)
    buy, sell = res.trades.sort("date").rows(named=True)
    assert buy["shares"] == pytest.approx(0.5)
    assert (sell["cost"], sell["reason"]) == (0.0, "month_end; resized: dust")
    assert res.rule_counts["s"]["resized.dust"] == 1


def _tiny_slots_market() -> tuple[pl.DataFrame, list[str]]:
    symbols = [f"S{i}" for i in range(10)]
    prices = {s: [1.0] * 7 for s in symbols}
    return bars_from(prices, prices), symbols


def test_minimum_commissions_cannot_drive_nav_below_zero_and_ruin_stops_trading():
    # 100 CNY over 10 slots of 10: each buy pays the 5.0 minimum, each sell 5.0 + duty on 5.0
    # of proceeds. The old kernel charged the sells beyond the cash (NAV -0.05 after February,
    # the nav schema rejected it); now each sell's cost is capped at the cash it leaves, the
    # NAV reaches zero, the strategy is ruined and March is not traded.
    bars, symbols = _tiny_slots_market()
    cfg = MarketConfig(min_commission=5.0, stamp_duty_rate=0.001, lot_size=0, initial_capital=100)
    market = market_arrays(bars)
    sel = pl.concat([selection(FEB, *symbols), selection(MAR, *symbols)])
    res = run_backtest(market, [monthly_orders(market, "ew", sel)], cfg)
    nav = res.nav["nav"].to_numpy()
    assert (nav >= 0).all() and nav[-1] == 0.0
    assert res.ruined == {"ew": DATES[5]}
    assert res.trades.filter(pl.col("date") > DATES[5]).height == 0
    assert res.rule_counts["ew"]["resized.cash"] >= 1
    assert res.trades.filter(pl.col("side") == "sell")["cost"].max() <= 5.0 + 1e-9


def test_ruined_strategy_keeps_the_others_and_the_run_validates():
    bars, symbols = _tiny_slots_market()
    cfg = MarketConfig(min_commission=5.0, stamp_duty_rate=0.001, lot_size=0, initial_capital=100)
    universe = pl.concat([selection(FEB, *symbols), selection(MAR, *symbols)])
    inputs = StrategySet(universe=universe, momentum=selection(FEB, "S0"))
    run = run_strategies(bars, inputs, cfg, start=FEB, end=DATES[-1])
    names = set(run.result.nav["strategy"].unique().to_list())
    assert names == {"benchmark", "equal_weight", "momentum"}
    assert run.notes["ruined.equal_weight"] == 1
    assert "ruined.momentum" not in run.notes
    assert run.result.nav.filter(pl.col("strategy") == "momentum")["nav"].min() > 0.5


def test_a_failing_strategy_does_not_lose_the_others():
    market = flat_market({"A": [10.0] * 7})
    good = monthly_orders(market, "good", selection(FEB, "A"))
    broken = StrategyOrders(
        name="broken",
        instr_open=good.instr_open,
        instr_close=good.instr_close,
        alloc_day=good.alloc_day,
        alloc_session=good.alloc_session,
        members=good.members.astype(object),  # the kernel cannot compile for objects
    )
    res = run_backtest(market, [broken, good], MarketConfig.frictionless())
    assert set(res.nav["strategy"].unique().to_list()) == {"good"}
    assert "broken" in res.failed
    assert res.nav["nav"][-1] == pytest.approx(1.0)


def test_buy_is_sized_net_of_costs_under_lots():
    # 10,000 CNY at 10.3 in 100-share lots with a 5.0 minimum and 0.1% slippage: 900 shares
    # cost 9,270 + 5 + 9.27; 1,000 would not fit. Cash never goes below zero.
    cfg = MarketConfig(
        min_commission=5.0, slippage_rate=0.001, lot_size=100, initial_capital=10_000.0
    )
    market = flat_market({"A": [10.3] * 7})
    res = run_backtest(market, [monthly_orders(market, "s", selection(FEB, "A"))], cfg)
    buy = res.trades.row(0, named=True)
    assert buy["raw_shares"] == 900
    assert buy["cost"] == pytest.approx(5.0 + 9.27)
    assert (res.nav["cash"] >= 0).all()
