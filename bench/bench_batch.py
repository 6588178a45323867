"""Batched backtest kernel against N single runs: variants per minute, as a paired ratio.

Builds V random top-k monthly selections (k = 1% of the universe, at least 3) on a simulated
market, then times, interleaved in one process (A B A B ...): (A) one `simulate_batch` call over
all V variants (daily series and counters, no trade records: how a null's draws run) and (B) V
`simulate` calls (one strategy each, the same precomputed rules). Both are warmed up first (the
numba compile is not timed). Each repeat checks that A's navs equal B's exactly. On a shared
machine only the ratio means something.

Run: `.venv/bin/python bench/bench_batch.py [--stocks 300 --years 3 --variants 64 --repeats 3]`.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numba
import numpy as np
import polars as pl

from cnnlstm.tasks.backtest import MarketConfig, market_arrays
from cnnlstm.tasks.backtest.api import market_rules, simulate, simulate_batch, stack_orders
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.strategy.strategies import monthly_orders


def random_orders(market, n_variants: int, k: int, seed: int = 0):
    """V strategies holding k random stocks a month."""
    rng = np.random.default_rng(seed)
    months = sorted({d.replace(day=1) for d in market.dates[1:]})
    out = []
    for v in range(n_variants):
        rows = [(m, s) for m in months for s in rng.choice(market.symbols, k, replace=False)]
        sel = pl.DataFrame(rows, schema={"month": pl.Date, "symbol": pl.String}, orient="row")
        out.append(monthly_orders(market, f"draw{v}", sel))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stocks", type=int, default=300)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--variants", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    end = date(2012 + args.years, 12, 31)
    data = load_source("sim:", n_stocks=args.stocks, start=date(2011, 1, 1), end=end)
    market = market_arrays(data.bars, start=date(2011, 12, 30), end=end)
    cfg = MarketConfig.preset("cn")
    rules = market_rules(market, cfg)
    k = max(3, args.stocks // 100)
    orders = random_orders(market, args.variants, k)
    batch = stack_orders(orders, len(market.dates))
    print(
        f"market {market.close.shape[1]} stocks x {market.close.shape[0]} days, "
        f"{args.variants} variants of {k} stocks a month, numba threads {numba.get_num_threads()}"
    )
    simulate_batch(market, stack_orders(orders[:2], len(market.dates)), cfg, rules=rules)
    simulate(market, orders[0], cfg, rules=rules)  # both compiled before timing
    ratios = []
    for rep in range(args.repeats):
        t0 = time.perf_counter()
        out = simulate_batch(market, batch, cfg, rules=rules, record_trades=False)
        t_batch = time.perf_counter() - t0
        t0 = time.perf_counter()
        singles = [simulate(market, o, cfg, rules=rules).series["nav"] for o in orders]
        t_single = time.perf_counter() - t0
        assert np.array_equal(np.stack(singles), out.nav), "batched navs differ from single runs"
        ratios.append(t_single / t_batch)
        print(
            f"repeat {rep}: batched {args.variants / t_batch * 60:,.0f} variants/min, "
            f"single runs {args.variants / t_single * 60:,.0f} variants/min, "
            f"ratio {ratios[-1]:.2f}x"
        )
    print(f"paired ratio (single time / batched time): median {np.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
