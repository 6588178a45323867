"""Ingestion throughput (rows/s), with ratios against a baseline run in the same process.

Data sets:
  * us: the largest shared set, the US S&P 500 folder (505 per-stock CSVs, ~619k rows).
    Baseline: polars reading the same files with no checks (`pl.read_csv` + concat).
  * sim: the simulated market, 3,000 stocks x 12 years (2005..2016).
    Baseline: producing the bars (`simulate_market`) without validating or storing them.

Stages timed: read (source -> bars), validate (BarsSchema via validate_table), write (Parquet
store, first time), re-ingest (second full ingest into the same store: nothing added).

Usage: .venv/bin/python bench/bench_ingest.py [--only us|sim] [--sim-stocks N] [--sim-years Y]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

from cnnlstm.schemas.bars import BarsSchema
from cnnlstm.schemas.validation import validate_table
from cnnlstm.tasks.data.ingest import ingest, ingest_data
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.data.store import write_bars

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def show(name: str, rows: int, seconds: float, baseline: float) -> None:
    print(
        f"  {name:<22} {seconds:8.2f} s  {rows / seconds:>12,.0f} rows/s  "
        f"x{seconds / baseline:6.2f} of baseline"
    )


def bench_us() -> None:
    folder = SHARED / "us-sp500-2013-2018" / "stocks"
    if not folder.is_dir():
        print(f"us: skipped, {folder} not found")
        return
    files = sorted(folder.glob("*.csv"))
    raw, base = timed(lambda: pl.concat([pl.read_csv(f) for f in files]))
    data, t_read = timed(lambda: load_source(f"csv:{folder}"))
    rows = data.bars.height
    checked, t_val = timed(
        lambda: validate_table(data.bars, BarsSchema, table="bars", on_invalid="quarantine")
    )
    with tempfile.TemporaryDirectory() as tmp:
        _, t_write = timed(lambda: write_bars(Path(tmp) / "w", checked.valid))
        spec = f"csv:{folder}"
        _, t_first = timed(lambda: ingest(spec, Path(tmp) / "s", on_invalid="quarantine"))
        _, t_again = timed(lambda: ingest(spec, Path(tmp) / "s", on_invalid="quarantine"))
    print(f"us: {len(files)} files, {rows:,} rows (baseline: plain polars read {base:.2f} s)")
    assert raw.height == rows
    show("read", rows, t_read, base)
    show("validate", rows, t_val, base)
    show("write store", rows, t_write, base)
    show("ingest (all stages)", rows, t_first, base)
    show("re-ingest (no change)", rows, t_again, base)


def bench_sim(n_stocks: int, years: int) -> None:
    options = {"n_stocks": n_stocks, "start": date(2005, 1, 1), "end": date(2004 + years, 12, 31)}
    data, base = timed(lambda: load_source("sim:", **options))
    rows = data.bars.height
    print(f"sim: {n_stocks} stocks x {years} years, {rows:,} rows")
    print(f"  (baseline: simulate {base:.2f} s)")
    _, t_val = timed(lambda: validate_table(data.bars, BarsSchema, table="bars"))
    with tempfile.TemporaryDirectory() as tmp:
        _, t_first = timed(lambda: ingest_data(data, Path(tmp)))
        _, t_again = timed(lambda: ingest_data(data, Path(tmp)))
    show("validate", rows, t_val, base)
    show("validate + write", rows, t_first, base)
    show("re-ingest (no change)", rows, t_again, base)
    show("simulate+validate+write", rows, base + t_first, base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["us", "sim"])
    parser.add_argument("--sim-stocks", type=int, default=3000)
    parser.add_argument("--sim-years", type=int, default=12)
    args = parser.parse_args()
    if args.only in (None, "us"):
        bench_us()
    if args.only in (None, "sim"):
        bench_sim(args.sim_stocks, args.sim_years)


if __name__ == "__main__":
    main()
