"""Backtest engine speed: 5,000 stocks x 2,500 days, and the ratio against a plain pandas loop.

Prints (1) the numba kernel's compile time (a fresh cache directory), (2) the kernel's time per
strategy on 5,000 stocks x 2,500 days (top 1% monthly, CNN-LSTM-like timing, equal-weighted
universe) and `run_backtest`'s time with its tables, under flat rules and under the dated `cn`
rule table, (3) on a smaller market, the time of a straightforward pandas/dict loop against the
kernel's, after checking that both give the same trades and net values.

The pandas loop implements the kernel's rules for a *flat* market configuration only
(`flat_config`: `rules="none"`, one price band, one lot, one sell-side stamp duty, raw prices,
no participation cap): limits from the previous traded close rounded to the tick, whole lots
sized net of costs, T+1, suspension, minimum commission, cash as a hard limit, rebalancing
trims and top-ups (below one lot: not made), delisting settlement and ruin. The dated A-share
table (`cn` preset) is timed but not compared (its rules are tested in tests/tasks/backtest).

Run: `.venv/bin/python bench/bench_backtest.py [--quick] [--stocks N --days T]
[--check-stocks N --check-days T]`.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta

if __name__ == "__main__":  # a fresh cache: the compile time is measured (not when imported)
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="numba-bench-"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402

from cnnlstm.tasks.backtest import MarketArrays, MarketConfig, run_backtest  # noqa: E402
from cnnlstm.tasks.backtest.api import StrategyOrders, simulate  # noqa: E402
from cnnlstm.tasks.backtest.engine import COUNT_BLOCKED, RUIN_FRACTION  # noqa: E402
from cnnlstm.tasks.strategy.strategies import monthly_orders  # noqa: E402
from cnnlstm.tasks.strategy.timing import timing_plan  # noqa: E402


def flat_config(capital: float) -> MarketConfig:
    """The `cn` preset's costs with flat rules the pandas loop implements (no dated table)."""
    return MarketConfig.preset(
        "cn",
        rules="none",
        price_limit=0.1,
        lot_size=100,
        stamp_duty_rate=0.001,
        initial_capital=capital,
    )


def weekdays(n: int) -> list[date]:
    days, d = [], date(2010, 1, 4)
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(1)
    return days


def random_market(
    n_stocks: int, n_days: int, seed: int = 0, *, vol: float = 0.015, gap_vol: float = 0.005
) -> MarketArrays:
    """Random-walk prices with +-10% moves, 2% suspended stock-days, staggered listings, and
    1% of the stocks delisted in the second half."""
    rng = np.random.default_rng(seed)
    ret = np.clip(rng.standard_t(4, (n_days, n_stocks)) * vol, -0.1, 0.1)
    close = 10 * np.exp(np.cumsum(np.log1p(ret), axis=0))
    gap = np.clip(rng.normal(0, gap_vol, close.shape), -0.1, 0.1)
    prev = np.vstack([close[:1], close[:-1]])
    open_ = np.clip(prev * (1 + gap), prev * 0.9, prev * 1.1)
    tradable = rng.random(close.shape) > 0.02
    listed = rng.integers(0, n_days // 4, n_stocks)
    before = np.arange(n_days)[:, None] < listed[None, :]
    delist_day = np.full(n_stocks, -1, dtype=np.int64)
    gone = rng.choice(n_stocks, max(1, n_stocks // 100), replace=False)
    delist_day[gone] = rng.integers(n_days // 2, n_days - 1, len(gone))
    after = (delist_day[None, :] >= 0) & (np.arange(n_days)[:, None] >= delist_day[None, :])
    absent = before | after
    open_[absent] = np.nan
    close[absent] = np.nan
    tradable &= ~absent
    symbols = [f"S{i:05d}" for i in range(n_stocks)]
    return MarketArrays(weekdays(n_days), symbols, open_, close, tradable, delist_day)


def monthly_selection(market: MarketArrays, fraction: float, seed: int) -> pl.DataFrame:
    """Random picks among listed stocks each month (a stand-in for CNN or momentum)."""
    rng = np.random.default_rng(seed)
    rows = []
    months = sorted({d.replace(day=1) for d in market.dates})[1:]
    day = {d.replace(day=1): i for i, d in reversed(list(enumerate(market.dates)))}
    for m in months:
        listed = np.flatnonzero(~np.isnan(market.close[day[m] - 1]))
        k = max(1, int(round(fraction * len(listed))))
        for rank, j in enumerate(rng.choice(listed, k, replace=False), 1):
            rows.append((m, market.symbols[j], 1.0, rank))
    return pl.DataFrame(rows, schema=["month", "symbol", "score", "rank"], orient="row")


def random_signals(market: MarketArrays, selection: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Random +1/-1 signals on the selected stocks' decision days (month days + rebalance date)."""
    rng = np.random.default_rng(seed)
    days = pl.DataFrame({"date": market.dates}).with_columns(
        month=pl.col("date").dt.truncate("1mo")
    )
    wanted = selection.select("month", "symbol").join(days, on="month")
    # the rebalance date's decision starts each month
    extra = selection.select("month", "symbol").join(_previous_days(market), on="month")
    both = (
        pl.concat([wanted.select("symbol", "date"), extra.select("symbol", "date")])
        .unique()
        .sort("symbol", "date")
    )
    signal = np.where(rng.random(both.height) < 0.5, 1, -1).astype(np.int8)
    return both.with_columns(signal=pl.Series(signal))


def _previous_days(market: MarketArrays) -> pl.DataFrame:
    """Each month's rebalance date (the trading day before its first)."""
    rows = [
        (d.replace(day=1), prev)
        for prev, d in zip(market.dates[:-1], market.dates[1:], strict=True)
        if d.month != prev.month
    ]
    return pl.DataFrame(rows, schema=["month", "date"], orient="row")


# --- the straightforward baseline: the same rules, one pandas/dict step at a time ---------------


def naive_backtest(market: MarketArrays, orders: StrategyOrders, cfg: MarketConfig):
    """Plain-Python loop over days, sessions and stocks with pandas frames (slow on purpose).

    Implements the kernel's rules for a flat configuration (see the module docstring).

    Returns:
        (trades, nav): trades as (day, session, symbol, side, price, shares, cost) tuples, and
        the daily net values.

    Raises:
        ValueError: a configuration or market with rules this loop does not implement.
    """
    flat = (
        cfg.rules == "none"
        and not cfg.rules_extra.model_dump(exclude_defaults=True)
        and not cfg.status
        and cfg.price_limit is not None
        and cfg.lot_size is not None
        and cfg.stamp_duty_rate is not None
        and cfg.participation is None
        and cfg.cost_multiplier == 1.0
        and market.factor is None
    )
    if not flat:
        raise ValueError("naive_backtest implements flat rules on raw prices only")
    idx, cols = pd.Index(market.dates), pd.Index(market.symbols)
    pos = {s: j for j, s in enumerate(cols)}
    px = {0: pd.DataFrame(market.open, idx, cols), 1: pd.DataFrame(market.close, idx, cols)}
    ok = pd.DataFrame(market.tradable, idx, cols)
    instr = {
        0: pd.DataFrame(orders.instr_open, idx, cols),
        1: pd.DataFrame(orders.instr_close, idx, cols),
    }
    allocs = {
        (int(d), int(s)): set(cols[orders.members[m]])
        for m, (d, s) in enumerate(zip(orders.alloc_day, orders.alloc_session, strict=True))
    }
    delisted = {cols[j]: int(d) for j, d in enumerate(market.delisting()) if d >= 0}
    lot, band, tick = float(cfg.lot_size), float(cfg.price_limit), float(cfg.tick)
    comm, min_comm, slip = cfg.commission_rate, cfg.min_commission, cfg.slippage_rate
    duty = float(cfg.stamp_duty_rate)
    state = {"cash": float(cfg.initial_capital)}
    shares, want, slot, last, bought = {}, {}, {}, {}, {}
    members: set[str] = set()
    trades, navs, ruined = [], [], False

    def in_order(symbols):
        return sorted(symbols, key=pos.__getitem__)

    def fee(side, q, p):
        value = q * p
        if value <= 0:
            return 0.0
        return max(comm * value, min_comm) + ((duty if side < 0 else 0.0) + slip) * value

    def to_tick(price):
        return math.floor(price / tick + 0.5 + 1e-9) * tick

    def lots_to_buy(raw):  # at least one lot, then whole lots
        if lot <= 0:
            return max(raw, 0.0)
        if raw < lot - 1e-9:
            return 0.0
        return lot + math.floor((raw - lot) / lot + 1e-9) * lot

    def lots_to_sell(raw):  # a trim: whole lots (one share when fractional)
        if lot > 0:
            return math.floor(raw / lot + 1e-9) * lot
        return raw if raw >= 1.0 - 1e-9 else 0.0

    def blocked(sym, i, p, side):
        if not ok.iat[i, pos[sym]] or not np.isfinite(p):
            return True
        if side < 0 and cfg.t_plus_1 and bought.get(sym) == i:
            return True
        ref = last.get(sym, np.nan)
        if not np.isfinite(ref):
            return False
        ref = to_tick(ref)
        if side > 0:
            return p >= to_tick(ref * (1.0 + band)) - 0.5 * tick
        return p <= to_tick(ref * (1.0 - band)) + 0.5 * tick

    def affordable(budget, p):
        if budget <= 0:
            return 0.0
        q = budget / (p * (1.0 + comm + slip))
        if comm * q * p < min_comm:
            q = (budget - min_comm) / (p * (1.0 + slip))
        if q <= 0:
            return 0.0
        q = lots_to_buy(q)
        for _ in range(64):
            if q <= 0 or q * p + fee(1, q, p) <= budget:
                break
            if lot > 0:
                q -= lot
                q = 0.0 if q < lot - 1e-9 else q
            else:
                q *= budget / (q * p + fee(1, q, p)) * (1.0 - 1e-12)
        return q if q > 1e-12 else 0.0

    def sell(i, session, sym, p, q, free=False):
        value = q * p
        cost = 0.0 if free else fee(-1, q, p)
        cost = min(cost, max(state["cash"] + value, 0.0))  # never more than the cash left
        state["cash"] += value - cost
        if sym in members:
            slot[sym] += value - cost
        trades.append((i, session, sym, -1, p, q, cost))
        shares[sym] -= q
        if shares[sym] < 1e-9:
            del shares[sym]

    for i, day in enumerate(market.dates):
        if not ruined:
            for sym in in_order(s for s, d in delisted.items() if d == i and s in shares):
                if np.isfinite(last.get(sym, np.nan)):  # settled at its last close
                    sell(i, 0, sym, last[sym], shares[sym], free=shares[sym] < 1.0 - 1e-9)
                    want[sym] = 0
            for session in (0, 1):
                row = instr[session].loc[day]
                prices = px[session].loc[day]
                alloc = allocs.get((i, session))
                for sym, order in row[row >= 0].items():
                    want[sym] = int(order)
                for sym in in_order(s for s in shares if want.get(s) == 0 and row[s] >= 0):
                    p = prices[sym]
                    if not blocked(sym, i, p, -1):
                        sell(i, session, sym, p, shares[sym], free=shares[sym] < 1.0 - 1e-9)
                if alloc is not None:
                    members, slot = alloc, {}
                    mark = {s: prices[s] if ok.at[day, s] else last[s] for s in shares}
                    held = in_order(s for s in members if s in shares and want.get(s) == 1)
                    value = state["cash"]
                    for s in held:
                        value += shares[s] * mark[s]
                    value /= max(len(members), 1)
                    for sym in in_order(members):
                        if sym not in shares:
                            slot[sym] = value
                            continue
                        p = prices[sym]
                        slot[sym] = value - shares[sym] * mark[sym]
                        if not ok.at[day, sym] or want.get(sym) != 1 or slot[sym] >= 0:
                            continue
                        q = min(lots_to_sell(min(-slot[sym] / p, shares[sym])), shares[sym])
                        if q > 0 and not blocked(sym, i, p, -1):
                            sell(i, session, sym, p, q)
                for sym in in_order(members):
                    if row[sym] < 0 or want.get(sym) != 1:
                        continue
                    top_up = alloc is not None and sym in shares
                    if sym in shares and not top_up:
                        continue
                    p = prices[sym]
                    if blocked(sym, i, p, 1):
                        continue
                    q = affordable(min(slot[sym], state["cash"]), p)
                    if q <= 0 or (top_up and q < 1.0 - 1e-9):
                        continue
                    c = fee(1, q, p)
                    state["cash"] = max(state["cash"] - (q * p + c), 0.0)
                    slot[sym] -= q * p + c
                    shares[sym] = shares.get(sym, 0.0) + q
                    bought[sym] = i
                    trades.append((i, session, sym, 1, p, q, c))
        closes = px[1].loc[day]
        for sym in cols[ok.loc[day].to_numpy() & np.isfinite(closes.to_numpy())]:
            last[sym] = closes[sym]
        nav = state["cash"]
        for s in in_order(shares):
            nav += shares[s] * last[s]
        navs.append(nav)
        ruined = ruined or nav <= RUIN_FRACTION * cfg.initial_capital
    return trades, np.array(navs)


def check_same(market: MarketArrays, orders: StrategyOrders, cfg: MarketConfig):
    """Kernel and naive loop give the same trades and nav; return both times and the count."""
    t0 = time.perf_counter()
    naive_trades, naive_nav = naive_backtest(market, orders, cfg)
    t_naive = time.perf_counter() - t0
    t_kernel = np.inf
    for _ in range(3):  # best of three: the first call also pays page faults
        t0 = time.perf_counter()
        out = simulate(market, orders, cfg)
        t_kernel = min(t_kernel, time.perf_counter() - t0)
    ours = [
        (
            int(r["day"]),
            int(r["session"]),
            market.symbols[r["stock"]],
            int(r["side"]),
            r["price"],
            r["shares"],
            r["cost"],
        )
        for r in out.records
    ]
    assert len(ours) == len(naive_trades), (orders.name, len(ours), len(naive_trades))
    key = lambda t: t[:4]  # noqa: E731 - one trade per stock, side and session
    for a, b in zip(sorted(ours, key=key), sorted(naive_trades, key=key), strict=True):
        assert a[:4] == b[:4] and np.allclose(a[4:], b[4:], rtol=1e-9, atol=1e-9), (a, b)
    np.testing.assert_allclose(out.series["nav"], naive_nav, rtol=1e-9)
    return t_naive, t_kernel, len(ours), int(out.counts[COUNT_BLOCKED])


def random_instructions(orders: StrategyOrders, seed: int) -> StrategyOrders:
    """The same allocations with random hold / flat / none instructions at both sessions (buys
    at the open and sells at the close of one day: T+1 blocks)."""
    rng = np.random.default_rng(seed)
    shape = orders.instr_open.shape

    def draw() -> np.ndarray:
        return rng.choice(np.array([-1, 0, 1], dtype=np.int8), shape, p=[0.5, 0.2, 0.3])

    return replace(orders, name=f"{orders.name}-random", instr_open=draw(), instr_close=draw())


def check_cases(n_stocks: int, n_days: int) -> list[tuple[str, StrategyOrders, MarketConfig]]:
    """The strategies compared with the pandas loop on a small market."""
    # volatile enough that limit-up and limit-down days occur at both sessions
    small = random_market(n_stocks, n_days, seed=7, vol=0.04, gap_vol=0.04)
    sel = monthly_selection(small, 0.1, seed=8)
    every = monthly_selection(small, 1.0, seed=10)
    plan, _ = timing_plan(sel, random_signals(small, sel, 9), small.dates)
    rich, tight = flat_config(100_000_000.0), flat_config(200_000.0)
    return [
        (small, "top 10% monthly", monthly_orders(small, "m", sel), rich),
        (small, "top 10% + timing", monthly_orders(small, "t", sel, timing=plan), rich),
        (small, "top 10% close mode", monthly_orders(small, "c", sel, execution="close"), rich),
        # ~2,000 CNY a slot: minimum commission, lots that do not fit, top-ups not made
        (small, "EW universe, 200k", monthly_orders(small, "e", every), tight),
        (
            small,
            "random instructions",
            random_instructions(monthly_orders(small, "r", sel), 11),
            rich,
        ),
    ]


def main(n_stocks: int, n_days: int, check_stocks: int, check_days: int) -> None:
    cfg = flat_config(100_000_000.0)
    cn = MarketConfig.preset("cn", initial_capital=100_000_000.0)
    tiny = random_market(20, 60, seed=1)
    sel = monthly_selection(tiny, 0.2, seed=2)
    t0 = time.perf_counter()
    simulate(tiny, monthly_orders(tiny, "warm", sel), cfg)
    compile_s = time.perf_counter() - t0
    cache = os.environ.get("NUMBA_CACHE_DIR", "numba's default")
    print(f"numba compile (cache dir {cache}): {compile_s:.2f} s")

    t0 = time.perf_counter()
    market = random_market(n_stocks, n_days)
    top = monthly_selection(market, 0.01, seed=3)
    every = monthly_selection(market, 1.0, seed=4)
    plan, _ = timing_plan(top, random_signals(market, top, 5), market.dates)
    print(f"\nmarket {n_stocks} stocks x {n_days} days built in {time.perf_counter() - t0:.1f} s")
    print("flat rules (10% band, 100-share lots, 0.1% sell duty, cn costs, T+1):")
    cases = {
        "top 1% monthly": lambda: monthly_orders(market, "top", top),
        "top 1% + timing": lambda: monthly_orders(market, "timed", top, timing=plan),
        "equal-weight universe": lambda: monthly_orders(market, "ew", every),
    }
    total = 0.0
    for name, build in cases.items():
        t0 = time.perf_counter()
        orders = build()
        t_orders = time.perf_counter() - t0
        times = []
        for _ in range(3):  # the first run also pays page faults; report it and the best
            t0 = time.perf_counter()
            out = simulate(market, orders, cfg)
            times.append(time.perf_counter() - t0)
        t_kernel = min(times)
        total += t_kernel
        print(
            f"  {name:22s} kernel {t_kernel:5.2f} s (first {times[0]:.2f} s) "
            f"({len(out.records):>9,} trades, {int(out.counts[COUNT_BLOCKED]):,} blocked; "
            f"orders built in {t_orders:.2f} s; final nav {out.series['nav'][-1] / 1e8:.3f})"
        )
    print(f"  all three strategies: {total:.2f} s of kernel time (best of three each)")
    ew = monthly_orders(market, "ew", every)
    for label, market_cfg in (("flat rules", cfg), ("dated cn table", cn)):
        t0 = time.perf_counter()
        result = run_backtest(market, [ew], market_cfg)
        print(
            f"  run_backtest, equal-weight universe, {label}, with its trades/nav tables: "
            f"{time.perf_counter() - t0:.2f} s ({result.trades.height:,} trades)"
        )

    print(
        f"\nsmall market {check_stocks} stocks x {check_days} days, flat rules: cn costs, lots, "
        "tick limits, suspensions, delistings, T+1, cash cap:"
    )
    for small, name, orders, case_cfg in check_cases(check_stocks, check_days):
        t_naive, t_kernel, n, n_blocked = check_same(small, orders, case_cfg)
        print(
            f"  {name:20s} identical ({n} trades, {n_blocked} blocked): pandas loop "
            f"{t_naive:.2f} s, kernel {t_kernel * 1e3:.2f} ms, ratio {t_naive / t_kernel:,.0f}x"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 stocks x 500 days")
    ap.add_argument("--stocks", type=int, default=None, help="timed market (default 5,000)")
    ap.add_argument("--days", type=int, default=None, help="timed market (default 2,500)")
    ap.add_argument("--check-stocks", type=int, default=100, help="compared market")
    ap.add_argument("--check-days", type=int, default=250, help="compared market")
    args = ap.parse_args()
    default = (1000, 500) if args.quick else (5000, 2500)
    main(
        args.stocks or default[0],
        args.days or default[1],
        args.check_stocks,
        args.check_days,
    )
