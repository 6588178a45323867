"""Throughput and memory of the simulated market.

Times `simulate_market` on the default market (300 stocks, 2005..2017: the baseline) and on
3,000 stocks x 12 years (2006..2017), in one process, and prints rows/s, the scaling ratio
against the baseline, and the process's peak resident memory after each run.

Run: `.venv/bin/python bench/bench_sim.py [--stocks 3000] [--repeat 1]`
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date

from cnnlstm.tasks.data.sources.sim import SimConfig, simulate_market


def _peak_rss_gib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _time(cfg: SimConfig, repeat: int) -> tuple[float, int]:
    """Best wall time over `repeat` runs, and the bars row count."""
    best, rows = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        data = simulate_market(cfg)
        best = min(best, time.perf_counter() - t0)
        rows = data.bars.height
        del data
    return best, rows


def main() -> None:
    """Run the baseline and the large market and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    base_cfg = SimConfig()
    big_cfg = SimConfig(n_stocks=args.stocks, start=date(2006, 1, 1), end=date(2017, 12, 31))

    base_s, base_rows = _time(base_cfg, args.repeat)
    base_rss = _peak_rss_gib()
    print(
        f"baseline  {base_cfg.n_stocks:>5} stocks {base_cfg.start}..{base_cfg.end}: "
        f"{base_rows:>10,} rows in {base_s:6.2f} s = {base_rows / base_s:>12,.0f} rows/s; "
        f"peak RSS {base_rss:.2f} GiB"
    )
    big_s, big_rows = _time(big_cfg, args.repeat)
    big_rss = _peak_rss_gib()
    print(
        f"large     {big_cfg.n_stocks:>5} stocks {big_cfg.start}..{big_cfg.end}: "
        f"{big_rows:>10,} rows in {big_s:6.2f} s = {big_rows / big_s:>12,.0f} rows/s; "
        f"peak RSS {big_rss:.2f} GiB"
    )
    print(
        f"ratios large/baseline: rows x{big_rows / base_rows:.1f}, time x{big_s / base_s:.1f}, "
        f"throughput x{(big_rows / big_s) / (base_rows / base_s):.2f}"
    )


if __name__ == "__main__":
    main()
