"""What the ingest stage reads for a research span: the whole source vs the span, paired.

Usage: .venv/bin/python bench/bench_read_span.py [--stocks 3000] [--rounds 2]
       [--span 2012-10-01:2017-12-31] [--folder DIR] [--qlib PATH]

The source is a Qlib-format folder: `--qlib PATH` (e.g. the shared CSI 300 sample), else a
simulated market of `--stocks` stocks over 2010-01-04 .. 2026-05-08 written in Qlib's layout
once (into `--folder`, kept for the next run): the full-scale stand-in for a whole A-share
market in Qlib format. Each round runs, in fresh processes and a fresh store, interleaved:
* `whole`: what the ingest stage did before: read every stock's whole history, ingest it all
  into the store, snapshot the store's rows of those symbols (every year), cut to the span;
* `span`: the stage now: read the span's calendar days only (each `.bin` file sliced by
  calendar index), ingest them, snapshot the store's year files of the span.
Each prints the values read from the `.bin` files, the rows ingested, the rows the run sees
(equal in both: checked), the process's peak RSS (`getrusage` of the child: load-independent)
and its wall seconds; the summary gives the medians and the span/whole ratios.
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

FIELDS = ("open", "high", "low", "close", "volume", "factor")


def write_sim_qlib(folder: Path, n_stocks: int, seed: int = 0) -> None:
    """The simulated market of `n_stocks` over 2010-01-04 .. 2026-05-08 in Qlib's layout.

    Its bars on days XSHG did not trade (the simulator's calendar has no lunar holidays) are
    left out, as a real A-share folder has none.
    """
    import numpy as np
    import polars as pl

    from cnnlstm.core.sessions import calendar_name, exchange_calendar
    from cnnlstm.tasks.data.sources.base import load_source
    from cnnlstm.tasks.data.sources.sim import SimConfig

    cfg = SimConfig(n_stocks=n_stocks, start=date(2010, 1, 4), end=date(2026, 5, 8), seed=seed)
    bars = load_source("sim:", **cfg.model_dump()).bars
    # only XSHG's sessions: a research run refuses bars on a day the exchange did not trade
    xshg = exchange_calendar(calendar_name("cn"))
    sessions = pl.Series(xshg.sessions(xshg.first, min(xshg.last, cfg.end)), dtype=pl.Date)
    bars = bars.filter(pl.col("date").is_in(sessions.implode()))
    calendar = bars["date"].unique().sort()
    (folder / "calendars").mkdir(parents=True, exist_ok=True)
    (folder / "calendars" / "day.txt").write_text("\n".join(str(d) for d in calendar) + "\n")
    index = {d: i for i, d in enumerate(calendar.to_list())}
    for (symbol,), rows in bars.group_by("symbol"):
        first = index[rows["date"][0]]
        days = [index[d] - first for d in rows["date"].to_list()]
        out = folder / "features" / str(symbol)
        out.mkdir(parents=True, exist_ok=True)
        n = days[-1] + 1
        for field in FIELDS:
            values = np.full(n, np.nan, dtype="<f4")
            if field == "factor":
                values[days] = 1.0
            else:
                values[days] = rows[field].cast(pl.Float32).to_numpy()
            np.concatenate([[np.float32(first)], values]).astype("<f4").tofile(
                out / f"{field}.day.bin"
            )


CHILD = """
import json, resource, sys, time
from datetime import date
from pathlib import Path
import polars as pl
from cnnlstm.tasks.data.ingest import ingest_data
from cnnlstm.tasks.data.sources import qlib
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.data.store import read_bars

mode, folder, store, start, end = sys.argv[1:6]
start, end = date.fromisoformat(start), date.fromisoformat(end)
read = [0]
real = qlib._read_values
qlib._read_values = lambda p, a, n: read.__setitem__(0, read[0] + n) or real(p, a, n)
t = time.perf_counter()
window = {"start": start, "end": end} if mode == "span" else {}
data = load_source(f"qlib:{folder}", **window)
report = ingest_data(data, store)
symbols = data.bars["symbol"].unique().to_list()
if mode == "span":
    bars = read_bars(store, start, end, symbols=symbols)
else:
    bars = read_bars(store, symbols=symbols).filter(pl.col("date").is_between(start, end))
seconds = time.perf_counter() - t
print(json.dumps({
    "mode": mode, "values_read": read[0], "rows_ingested": report.rows,
    "rows_seen": bars.height, "seen_hash": int(bars.hash_rows().sum()) % 2**61,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "seconds": seconds,
}))
"""


def run_child(mode: str, folder: Path, start: date, end: date) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-read-span-") as store:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, mode, str(folder), store, str(start), str(end)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--span", default="2012-10-01:2017-12-31", help="START:END (ISO dates)")
    ap.add_argument("--folder", default=None, help="where the simulated Qlib folder is kept")
    ap.add_argument("--qlib", default=None, help="a Qlib folder to read instead of the sim")
    args = ap.parse_args()
    start, end = (date.fromisoformat(x) for x in args.span.split(":"))
    if args.qlib:
        folder = Path(args.qlib)
    else:
        folder = Path(args.folder or tempfile.gettempdir()) / f"sim-qlib-{args.stocks}"
        if not (folder / "calendars" / "day.txt").exists():
            t = time.perf_counter()
            write_sim_qlib(folder, args.stocks)
            print(f"wrote {folder} in {time.perf_counter() - t:.0f} s")
    print(f"bench_read_span: {folder}, span {start}..{end}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    results: dict[str, list[dict]] = {"whole": [], "span": []}
    for r in range(args.rounds):
        for mode in ("whole", "span") if r % 2 == 0 else ("span", "whole"):
            out = run_child(mode, folder, start, end)
            results[mode].append(out)
            print(
                f"ROUND {r + 1} {mode:>5}: values read {out['values_read']:,}, rows ingested "
                f"{out['rows_ingested']:,}, rows seen {out['rows_seen']:,}, peak RSS "
                f"{out['peak_rss_mib']:,.0f} MiB, {out['seconds']:.1f} s "
                f"(load {os.getloadavg()[0]:.2f})"
            )
    same = {o["seen_hash"] for o in results["whole"] + results["span"]}
    assert len(same) == 1, "the span read and the whole read gave different rows"

    def med(mode: str, key: str) -> float:
        return statistics.median(o[key] for o in results[mode])

    for key in ("values_read", "rows_ingested", "peak_rss_mib", "seconds"):
        w, s = med("whole", key), med("span", key)
        print(f"MEDIAN {key}: whole {w:,.1f}, span {s:,.1f}, span/whole x{s / w:.3f}")
    print("rows seen identical in both modes: yes (hash of every row)")


if __name__ == "__main__":
    main()
