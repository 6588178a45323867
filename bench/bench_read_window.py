"""CSV and Parquet sources read whole vs by the run's date window: rows materialised, memory, time.

Usage: .venv/bin/python bench/bench_read_window.py [--stocks 1000] [--rounds 2]
       [--span 2012-10-01:2017-12-31] [--folder DIR]

Writes a simulated market of `--stocks` stocks over 2010-01-04 .. 2026-05-08 once (into
`--folder`, kept for the next run) as a folder of per-symbol CSV files and a folder of
per-symbol Parquet files (row groups of 250 rows, dates ascending, as a user's export is). Each
round runs, in fresh processes, interleaved (A B B A):
* `whole`: what a research run read before: every file whole, then the rows of the span;
* `span`: the reader with the span as `start`/`end` (`window.DateWindow`): Parquet filtered in
  the scan (row groups outside skipped), CSV rows outside never materialised.
Each prints the rows the reader materialised (`read_bars_file`'s rows: values = rows x 8
columns), the rows the run sees (checked equal by a hash of every row), the child's peak RSS
(`getrusage`) and its wall seconds. A CSV file is still read whole from disk (text has no index):
its saving is in what is parsed and kept.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def write_sim_files(folder: Path, n_stocks: int, seed: int = 0) -> None:
    """The simulated market as per-symbol CSV files (`csv/`) and Parquet files (`parquet/`)."""
    from cnnlstm.tasks.data.sources.base import load_source
    from cnnlstm.tasks.data.sources.sim import SimConfig

    cfg = SimConfig(n_stocks=n_stocks, start=date(2010, 1, 4), end=date(2026, 5, 8), seed=seed)
    bars = load_source("sim:", **cfg.model_dump()).bars
    (folder / "csv").mkdir(parents=True, exist_ok=True)
    (folder / "parquet").mkdir(parents=True, exist_ok=True)
    for (symbol,), rows in bars.group_by("symbol"):
        rows = rows.sort("date")
        rows.write_csv(folder / "csv" / f"{symbol}.csv")
        rows.write_parquet(folder / "parquet" / f"{symbol}.parquet", row_group_size=250)


CHILD = """
import json, resource, sys, time
from datetime import date
import polars as pl
from cnnlstm.tasks.data.sources import tabular
from cnnlstm.tasks.data.sources.base import load_source

mode, kind, folder, start, end = sys.argv[1:6]
start, end = date.fromisoformat(start), date.fromisoformat(end)
rows = [0]
real = tabular.read_bars_file
def counted(*a, **k):
    df = real(*a, **k)
    rows[0] += df.height
    return df
tabular.read_bars_file = counted
t = time.perf_counter()
window = {"start": start, "end": end} if mode == "span" else {}
bars = load_source(f"{kind}:{folder}", **window).bars
bars = bars.filter(pl.col("date").is_between(start, end))
seconds = time.perf_counter() - t
print(json.dumps({
    "rows_materialised": rows[0], "rows_seen": bars.height,
    "seen_hash": int(bars.hash_rows().sum()) % 2**61,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "seconds": seconds,
}))
"""


def run_child(mode: str, kind: str, folder: Path, start: date, end: date) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, kind, str(folder / kind), str(start), str(end)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--span", default="2012-10-01:2017-12-31", help="START:END (ISO dates)")
    ap.add_argument("--folder", default=None, help="where the simulated files are kept")
    args = ap.parse_args()
    start, end = (date.fromisoformat(x) for x in args.span.split(":"))
    folder = Path(args.folder or tempfile.gettempdir()) / f"sim-files-{args.stocks}"
    if not (folder / "parquet").is_dir():
        t = time.perf_counter()
        write_sim_files(folder, args.stocks)
        print(f"wrote {folder} in {time.perf_counter() - t:.0f} s")
    print(f"bench_read_window: {folder}, span {start}..{end}, load {os.getloadavg()[0]:.2f}")
    for kind in ("parquet", "csv"):
        results: dict[str, list[dict]] = {"whole": [], "span": []}
        for r in range(args.rounds):
            for mode in ("whole", "span") if r % 2 == 0 else ("span", "whole"):
                out = run_child(mode, kind, folder, start, end)
                results[mode].append(out)
                print(
                    f"{kind} ROUND {r + 1} {mode:>5}: rows materialised "
                    f"{out['rows_materialised']:,}, rows seen {out['rows_seen']:,}, peak RSS "
                    f"{out['peak_rss_mib']:,.0f} MiB, {out['seconds']:.1f} s "
                    f"(load {os.getloadavg()[0]:.2f})"
                )
        hashes = {o["seen_hash"] for o in results["whole"] + results["span"]}
        assert len(hashes) == 1, f"{kind}: the span read and the whole read gave different rows"
        for key in ("rows_materialised", "peak_rss_mib", "seconds"):
            w = statistics.median(o[key] for o in results["whole"])
            s = statistics.median(o[key] for o in results["span"])
            print(f"{kind} MEDIAN {key}: whole {w:,.1f}, span {s:,.1f}, span/whole x{s / w:.3f}")
        print(f"{kind}: rows seen identical in both modes (hash of every row)")


if __name__ == "__main__":
    main()
