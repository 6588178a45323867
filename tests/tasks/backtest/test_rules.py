"""Hand-built cases of the dated A-share rules (issue 11 item 5) and a property test."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest import MarketConfig, run_backtest
from cnnlstm.tasks.backtest.api import market_arrays, market_rules
from cnnlstm.tasks.backtest.engine import (
    BLOCK_LIMIT_UP,
    BLOCK_NONE,
    SIDE_BUY,
    affordable_nb,
    block_nb,
    limit_prices_nb,
)
from cnnlstm.tasks.backtest.rules import (
    LimitRule,
    RuleTable,
    StatusPeriod,
    board_of,
    price_bands,
    read_status_table,
    stamp_duty,
)
from cnnlstm.tasks.backtest.rules_cn import CN_RULES
from cnnlstm.tasks.strategy.strategies import monthly_orders
from tests.tasks.backtest.helpers import bars_from, selection

CN = MarketConfig.preset("cn")


def _weekdays(first: date, n: int) -> list[date]:
    days = [first + timedelta(k) for k in range(3 * n)]
    return [d for d in days if d.weekday() < 5][:n]


def _buy_block(symbol: str, day: date, ref: float, price: float, cfg=CN, factor=1.0) -> int:
    """Why a buy of `symbol` at `price` after a close of `ref` cannot run on `day`."""
    days = [day - timedelta(1), day]
    bars = bars_from({symbol: [ref, price]}, {symbol: [ref, price]}, dates=days)
    market = market_arrays(bars)
    if factor != 1.0:
        market = dataclasses.replace(market, factor=np.full(market.close.shape, factor))
    r = market_rules(market, cfg)
    tradable = np.ones((2, 1), dtype=bool)
    bought = np.full(1, -1, dtype=np.int64)
    return block_nb(1, 0, SIDE_BUY, price, ref, tradable, bought, r, _params(cfg))


def _params(cfg):
    from cnnlstm.tasks.backtest.api import cost_params

    return cost_params(cfg)


def test_boards_from_codes():
    assert [board_of(s) for s in ("SH600000", "SZ000001", "SZ300750", "sz301001")] == [
        "main",
        "main",
        "chinext",
        "chinext",
    ]
    assert [board_of(s) for s in ("SH688001", "689009.SH", "BJ830799", "SIM0001")] == [
        "star",
        "star",
        "bse",
        "main",
    ]


def test_chinext_at_plus_15_percent_before_and_after_2020_08_24():
    # Before the registration reform ChiNext had +-10%: +15% is beyond limit-up (blocked).
    assert _buy_block("SZ300001", date(2020, 8, 21), 10.0, 11.5) == BLOCK_LIMIT_UP
    # From 2020-08-24 the band is +-20%: the same move trades.
    assert _buy_block("SZ300001", date(2020, 8, 24), 10.0, 11.5) == BLOCK_NONE
    # A main-board stock at +15% stays blocked after the date.
    assert _buy_block("SZ000001", date(2020, 8, 24), 10.0, 11.5) == BLOCK_LIMIT_UP


def test_st_stock_at_plus_5_percent_is_at_its_limit():
    st_cfg = CN.model_copy(
        update={"status": (StatusPeriod(symbol="SH600001", start=date(2015, 1, 1)),)}
    )
    assert _buy_block("SH600001", date(2016, 3, 1), 10.0, 10.5, st_cfg) == BLOCK_LIMIT_UP
    assert _buy_block("SH600001", date(2016, 3, 1), 10.0, 10.49, st_cfg) == BLOCK_NONE
    assert _buy_block("SH600001", date(2016, 3, 1), 10.0, 10.5) == BLOCK_NONE  # not ST
    ended = CN.model_copy(
        update={
            "status": (
                StatusPeriod(symbol="SH600001", start=date(2015, 1, 1), end=date(2015, 12, 31)),
            )
        }
    )
    assert _buy_block("SH600001", date(2016, 3, 1), 10.0, 10.5, ended) == BLOCK_NONE


def test_limit_price_from_the_real_previous_close_rounded_to_the_tick():
    # Real close 10.05: limit-up 11.055 rounds half up to 11.06; a real 11.05 open trades.
    assert limit_prices_nb(10.05, 0.10, 1.0, 0.01) == pytest.approx((11.06, 9.05))
    assert _buy_block("SH600000", date(2019, 3, 1), 10.05, 11.05) == BLOCK_NONE
    assert _buy_block("SH600000", date(2019, 3, 1), 10.05, 11.06) == BLOCK_LIMIT_UP
    # Back-adjusted x3 (factor 3): the same real prices, the same answers.
    assert _buy_block("SH600000", date(2019, 3, 1), 30.15, 33.15, factor=3.0) == BLOCK_NONE
    assert _buy_block("SH600000", date(2019, 3, 1), 30.15, 33.18, factor=3.0) == BLOCK_LIMIT_UP


def test_new_listing_first_days_have_no_band():
    # STAR listed 2019-07-22: five free sessions, then +-20%. Main board 2020: one free
    # session (the first day's +44% cap needs the issue price); 2023-05: five free sessions.
    symbols = ["SH688001", "SH600999", "SH603999"]
    days = _weekdays(date(2019, 7, 22), 8)
    listing = np.array([days[0], days[0], days[0]], dtype="datetime64[D]")
    session_no = np.tile(np.arange(8)[:, None], (1, 3)).astype(np.int32)
    bands = price_bands(CN_RULES, days, symbols, listing_day=listing, session_no=session_no)
    assert np.isnan(bands[:5, 0]).all() and bands[5, 0] == 0.2
    assert np.isnan(bands[0, 1]) and bands[1, 1] == 0.1
    later = _weekdays(date(2023, 5, 4), 8)
    listing = np.array([later[0]] * 3, dtype="datetime64[D]")
    bands = price_bands(CN_RULES, later, symbols, listing_day=listing, session_no=session_no)
    assert np.isnan(bands[:5, 2]).all() and bands[5, 2] == 0.1


def test_new_listing_found_from_the_first_bar_after_the_store_start():
    days = _weekdays(date(2023, 5, 4), 8)
    old = [10.0] * 8
    new = [np.nan, np.nan, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    market = market_arrays(
        bars_from(
            {"SH600000": old, "SH603999": new}, {"SH600000": old, "SH603999": new}, dates=days
        )
    )
    band = market_rules(market, CN).band
    assert np.isnan(band[2:7, 1]).all() and band[7, 1] == 0.1
    assert (band[:, 0] == 0.1).all()  # listed before the store: no exemption


@pytest.mark.parametrize(
    ("day", "buy", "sell"),
    [
        (date(2007, 5, 29), 0.001, 0.001),
        (date(2007, 5, 30), 0.003, 0.003),
        (date(2008, 4, 23), 0.003, 0.003),
        (date(2008, 4, 24), 0.001, 0.001),
        (date(2008, 9, 18), 0.001, 0.001),
        (date(2008, 9, 19), 0.0, 0.001),
        (date(2023, 8, 25), 0.0, 0.001),
        (date(2023, 8, 28), 0.0, 0.0005),
    ],
)
def test_stamp_duty_on_each_side_of_each_date(day, buy, sell):
    b, s = stamp_duty(CN_RULES, [day])
    assert (b[0], s[0]) == (buy, sell)


def test_stamp_duty_charged_by_date_in_a_run():
    days = [date(2023, 8, 24), date(2023, 8, 25), date(2023, 8, 28), date(2023, 9, 1)]
    prices = {"SH600000": [10.0] * 4}
    market = market_arrays(bars_from(prices, prices, dates=days))
    free = CN.model_copy(
        update={"commission_rate": 0, "min_commission": 0, "slippage_rate": 0, "t_plus_1": False}
    )
    rules = market_rules(market, free)
    assert rules.stamp_sell.tolist() == [0.001, 0.001, 0.0005, 0.0005]


def _lot_buy(symbol: str, budget: float, price: float) -> tuple[float, int]:
    day = date(2021, 3, 1)
    bars = bars_from({symbol: [price] * 2}, {symbol: [price] * 2}, dates=[day, day + timedelta(1)])
    market = market_arrays(bars)
    cfg = CN.model_copy(update={"commission_rate": 0, "min_commission": 0, "slippage_rate": 0})
    r = market_rules(market, cfg)
    q, cause, _ = affordable_nb(budget, price, 1, 0, r, _params(cfg))
    return q, cause


def test_star_buys_250_shares_where_the_main_board_buys_200():
    q, _ = _lot_buy("SH688001", 250 * 40.0 * 1.0001, 40.0)
    assert q == 250  # 200 minimum, then 1-share steps
    q, _ = _lot_buy("SH600000", 250 * 40.0 * 1.0001, 40.0)
    assert q == 200  # whole 100-share lots
    q, cause = _lot_buy("SH688001", 199 * 40.0 * 1.0001, 40.0)
    assert q == 0 and cause != BLOCK_NONE  # below STAR's 200-share minimum


def test_lots_at_the_real_price_with_a_factor():
    # Adjusted 30 = real 10 x factor 3: 10,000 CNY buys 900 real shares (lots of 100), i.e.
    # 300 adjusted units; the ledger shows both.
    days = [date(2021, 3, 1), date(2021, 3, 2), date(2021, 4, 1)]
    bars = bars_from({"SH600000": [30.0] * 3}, {"SH600000": [30.0] * 3}, dates=days)
    bars = bars.with_columns(factor=pl.lit(3.0))
    market = market_arrays(bars)
    assert market.raw_basis == "factor"
    cfg = CN.model_copy(
        update={
            "commission_rate": 0,
            "min_commission": 0,
            "slippage_rate": 0,
            "initial_capital": 9_999.0,
        }
    )
    res = run_backtest(
        market, [monthly_orders(market, "s", selection(date(2021, 3, 1), "SH600000"))], cfg
    )
    buy = res.trades.row(0, named=True)
    assert (buy["raw_shares"], buy["raw_price"]) == (900, 10.0)
    assert buy["shares"] == pytest.approx(300)


def test_capacity_cuts_a_fill_and_the_ledger_says_so():
    days = [date(2021, 3, 1), date(2021, 3, 2), date(2021, 3, 3), date(2021, 4, 1)]
    prices = {"SH600000": [10.0] * 4}
    bars = bars_from(prices, prices, dates=days)  # amount = 1,000 shares x 10 = 10,000 a day
    market = market_arrays(bars)
    cfg = CN.model_copy(
        update={
            "commission_rate": 0,
            "min_commission": 0,
            "slippage_rate": 0,
            "participation": 0.1,
            "initial_capital": 50_000.0,
        }
    )
    res = run_backtest(
        market, [monthly_orders(market, "s", selection(date(2021, 3, 1), "SH600000"))], cfg
    )
    buy = res.trades.row(0, named=True)
    assert buy["raw_shares"] == 100  # 10% of 10,000 CNY = 1,000 CNY = 100 shares
    assert buy["reason"] == "entry; resized: capacity"
    assert res.rule_counts["s"]["resized.capacity"] == 1
    # The month-end sell of 100 shares fits the cap (1,000 CNY).
    assert res.trades["side"].to_list() == ["buy", "sell"]


def test_capacity_needs_an_amount():
    days = [date(2021, 3, 1), date(2021, 3, 2)]
    bars = bars_from({"A": [10.0, 10.0]}, {"A": [10.0, 10.0]}, dates=days).drop("amount")
    market = market_arrays(bars)
    with pytest.raises(UserInputError, match="participation cap needs"):
        market_rules(market, CN.model_copy(update={"participation": 0.1}))


def test_us_preset_whole_shares_no_limits_t_plus_0():
    us = MarketConfig.preset("us")
    assert _buy_block("AAPL", date(2020, 3, 2), 10.0, 15.0, us) == BLOCK_NONE
    q, _, _ = affordable_nb(
        1000.0, 30.0, 1, 0, market_rules(_one_stock_market("AAPL"), us), _params(us)
    )
    assert q == 33


def _one_stock_market(symbol):
    days = [date(2020, 3, 2), date(2020, 3, 3)]
    return market_arrays(bars_from({symbol: [30.0] * 2}, {symbol: [30.0] * 2}, dates=days))


def test_user_rows_override_and_extend_the_table():
    extra = RuleTable(limits=(LimitRule(board="main", start=date(2020, 1, 1), band=0.15),))
    cfg = CN.model_copy(update={"rules_extra": extra})
    assert _buy_block("SH600000", date(2020, 3, 2), 10.0, 11.2, cfg) == BLOCK_NONE
    assert _buy_block("SH600000", date(2020, 3, 2), 10.0, 11.2) == BLOCK_LIMIT_UP
    replaced = RuleTable(limits=(LimitRule(board="main", start=date(1996, 12, 16), band=0.3),))
    table = CN_RULES.extended(replaced)
    assert len(table.limits) == len(CN_RULES.limits)
    assert (
        MarketConfig.preset(
            "cn", rules_extra={"limits": [{"board": "star", "start": "2030-01-01", "band": 0.25}]}
        )
        .rule_table()
        .limits[-1]
        .band
        == 0.25
    )


def test_status_table_from_a_csv(tmp_path):
    path = tmp_path / "st.csv"
    path.write_text(
        "symbol,start,end,status\nsh600001,2015-01-01,,ST\nSZ000002,2016-01-01,2016-06-30,st\n"
    )
    rows = read_status_table(path)
    assert rows[0] == StatusPeriod(symbol="SH600001", start=date(2015, 1, 1))
    assert rows[1].end == date(2016, 6, 30)
    cfg = MarketConfig.preset("cn", status=str(path))
    assert cfg.status == rows
    path.write_text("symbol,start,end,status\nSH600001,2015-13-01,,st\n")
    with pytest.raises(UserInputError, match="st.csv:2"):
        read_status_table(path)


# --- property: random ledgers keep every rule -------------------------------------------------

_SYMBOLS = ["SH600000", "SZ000001", "SZ300001", "SH688001"]
_LOT = {
    "SH600000": (100, 100),
    "SZ000001": (100, 100),
    "SZ300001": (100, 100),
    "SH688001": (200, 1),
}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 100_000),
    close_mode=st.booleans(),
    start=st.sampled_from([date(2019, 9, 2), date(2020, 7, 1), date(2023, 7, 3)]),
)
def test_random_ledgers_keep_every_rule(seed, close_mode, start):
    rng = np.random.default_rng(seed)
    days = _weekdays(start, 70)
    n = len(_SYMBOLS)
    # Real prices on the tick, with many moves at or near the bands and suspensions.
    moves = rng.choice(
        [-0.2, -0.1, -0.05, 0.0, 0.02, 0.05, 0.1, 0.15, 0.2],
        size=(70, n),
        p=[0.05, 0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05],
    )
    close = np.round(10 * np.cumprod(1 + moves * 0.5, axis=0), 2)
    opens = np.round(
        close * (1 + rng.choice([-0.1, 0, 0.1], size=close.shape, p=[0.2, 0.6, 0.2]) * 0.5), 2
    )
    volume = np.where(rng.random(close.shape) < 0.15, 0.0, 1e6)
    bars = bars_from(
        {s: list(opens[:, j]) for j, s in enumerate(_SYMBOLS)},
        {s: list(close[:, j]) for j, s in enumerate(_SYMBOLS)},
        {s: list(volume[:, j]) for j, s in enumerate(_SYMBOLS)},
        dates=days,
    )
    market = market_arrays(bars)
    months = sorted({d.replace(day=1) for d in days})[1:]
    sel = pl.concat([selection(m, *rng.choice(_SYMBOLS, 3, replace=False)) for m in months])
    res = run_backtest(
        market,
        [monthly_orders(market, "s", sel, execution="close" if close_mode else "open")],
        CN,
    )
    rules = market_rules(market, CN)
    t = res.trades
    day = {d: i for i, d in enumerate(market.dates)}
    col = market.stock_index()
    last_close = _last_traded_close(market)
    bought = set()
    for row in t.iter_rows(named=True):
        i, j = day[row["date"]], col[row["symbol"]]
        if row["reason"] == "delisted":
            continue
        assert market.tradable[i, j], row  # no trade on a suspended day
        ref = last_close[i - 1, j] if i > 0 else np.nan
        up, down = limit_prices_nb(ref, rules.band[i, j], 1.0, 0.01)
        if row["side"] == "buy":
            assert not (row["raw_price"] >= up - 0.005), row  # no buy at or above limit-up
            lot_min, step = _LOT[row["symbol"]]
            q = row["raw_shares"]
            assert q >= lot_min and abs((q - lot_min) / step - round((q - lot_min) / step)) < 1e-9
            bought.add((i, j))
        else:
            assert not (row["raw_price"] <= down + 0.005), row  # no sell at or below limit-down
            assert (i, j) not in bought, row  # T+1
    assert (res.nav["cash"] >= 0).all()


def _last_traded_close(market):
    close = np.where(market.tradable, market.close, np.nan)
    for i in range(1, close.shape[0]):
        close[i] = np.where(np.isnan(close[i]), close[i - 1], close[i])
    return close


def test_capacity_line_is_the_capital_where_fills_start_being_cut():
    from cnnlstm.tasks.strategy.strategies import capacity_capital

    days = [date(2021, 3, 1), date(2021, 3, 2), date(2021, 3, 3), date(2021, 4, 1)]
    prices = {"SH600000": [10.0] * 4}
    market = market_arrays(bars_from(prices, prices, dates=days))  # amount 10,000 a day
    cfg = CN.model_copy(update={"initial_capital": 5_000.0})
    sel = selection(date(2021, 3, 1), "SH600000")
    res = run_backtest(market, [monthly_orders(market, "s", sel)], cfg)
    cut = capacity_capital(res.trades, market, 5_000.0, 0.1)["s"]
    # A 4,000 CNY buy (400 shares) on 10,000 of amount: 10% = 1,000 -> cut from 1,250 capital.
    assert res.trades["raw_shares"][0] == 400
    assert cut["first"] == pytest.approx(5_000 * 1_000 / 4_000)


def test_capacity_makes_a_sell_wait_and_the_rest_sells_later():
    days = [date(2021, 3, 1), date(2021, 3, 2), date(2021, 3, 3), date(2021, 4, 1)]
    prices = {"SH600000": [10.0] * 4}
    volume = {"SH600000": [1000.0, 1000.0, 400.0, 1000.0]}  # Mar 3: amount 4,000 -> cap 400
    market = market_arrays(bars_from(prices, prices, volume, dates=days))
    cfg = CN.model_copy(
        update={
            "commission_rate": 0,
            "min_commission": 0,
            "slippage_rate": 0,
            "participation": 0.1,
            "initial_capital": 1_500.0,
        }
    )
    res = run_backtest(
        market, [monthly_orders(market, "s", selection(date(2021, 3, 1), "SH600000"))], cfg
    )
    sell = res.trades.filter(pl.col("side") == "sell").row(0, named=True)
    # 400 CNY of room on Mar 3 is below one 100-share lot (1,000 CNY): the sell waits.
    assert (sell["date"], sell["raw_shares"]) == (days[3], 100)
    assert sell["reason"] == "month_end; retried after capacity (1 sessions)"
    assert res.rule_counts["s"]["blocked.capacity"] == 1


def test_rule_texts_name_the_price_basis_and_the_capacity():
    from cnnlstm.tasks.strategy.strategies import StrategySet, run_strategies

    days = [date(2021, 2, 25), date(2021, 2, 26), date(2021, 3, 1), date(2021, 3, 31)]
    prices = {"SH600000": [10.0] * 4}
    run = run_strategies(
        bars_from(prices, prices, dates=days),
        StrategySet(universe=selection(date(2021, 3, 1), "SH600000")),
        CN.model_copy(update={"initial_capital": 5_000.0}),
        start=date(2021, 3, 1),
        end=date(2021, 3, 31),
    )
    assert "amount / volume" in run.texts[0]
    assert run.notes["capacity.participation_pct"] == 10
    assert 0 < run.notes["capacity.equal_weight.first"] <= run.notes["capacity.equal_weight.p05"]
    assert run.notes["raw_prices.amount_per_volume"] == 1
