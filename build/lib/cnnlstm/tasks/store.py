"""The local Parquet store of validated bars and the benchmark.

Layout: `<store>/bars/year=YYYY.parquet` (one file per calendar year, rows sorted by symbol and
date) and `<store>/benchmark.parquet`. Input contract: frames that already passed `BarsSchema`
/ `BenchmarkSchema` (ingestion validates before writing).

Writes are incremental and atomic: only (symbol, date) rows the store does not hold are added,
a year file is rewritten through a temporary file and `os.replace`, so a reader never sees half a
file and writing the same bars twice changes nothing. A stored row is never overwritten: rows
that arrive again with different values are counted (`WriteResult.conflicting`) and left as
stored, so a correction is a deliberate act (a new store), not a silent side effect.
Partitioning by year keeps an incremental daily update to rewriting one small file.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.bars import BAR_COLUMNS, BARS_DTYPES, BENCHMARK_COLUMNS

_KEY = ["symbol", "date"]
_VALUES = [c for c in BAR_COLUMNS if c not in _KEY]


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows added, rows already stored, and those stored with other values."""

    added: int
    already_stored: int
    conflicting: int = 0


def _bars_dir(store: Path) -> Path:
    return Path(store) / "bars"


def _benchmark_path(store: Path) -> Path:
    return Path(store) / "benchmark.parquet"


def _year_path(store: Path, year: int) -> Path:
    return _bars_dir(store) / f"year={year:04d}.parquet"


def _atomic_write(df: pl.DataFrame, path: Path) -> None:
    """Write `df` to `path` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        df.write_parquet(tmp, statistics=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _merge(stored: pl.DataFrame | None, new: pl.DataFrame, key: list[str], values: list[str]):
    """Append the rows of `new` whose key is not stored; count repeats and conflicts.

    One left join tells, per new row, whether its key is stored and with which values.
    """
    if stored is None or stored.height == 0:
        return new, WriteResult(added=new.height, already_stored=0)
    marked = stored.select(*key, *[pl.col(c).alias(f"{c}_stored") for c in values]).with_columns(
        _stored=pl.lit(True)
    )
    joined = new.join(marked, on=key, how="left").with_columns(pl.col("_stored").fill_null(False))
    differs = pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_stored")) for c in values)
    counts = joined.select(
        again=pl.col("_stored").sum(), conflicting=(pl.col("_stored") & differs).sum()
    ).row(0, named=True)
    fresh = joined.filter(~pl.col("_stored")).select(new.columns)
    result = WriteResult(
        added=fresh.height, already_stored=counts["again"], conflicting=counts["conflicting"]
    )
    return (pl.concat([stored, fresh]) if fresh.height else stored), result


def write_bars(store: Path | str, bars: pl.DataFrame) -> WriteResult:
    """Add validated bars to the store (only (symbol, date) rows it does not hold yet)."""
    store = Path(store)
    bars = bars.select(BAR_COLUMNS).cast(BARS_DTYPES)
    added = already = conflicting = 0
    for (year,), part in bars.group_by(pl.col("date").dt.year(), maintain_order=True):
        path = _year_path(store, int(year))
        stored = pl.read_parquet(path) if path.exists() else None
        merged, result = _merge(stored, part, _KEY, _VALUES)
        if result.added:
            _atomic_write(merged.sort(_KEY), path)
        added += result.added
        already += result.already_stored
        conflicting += result.conflicting
    return WriteResult(added=added, already_stored=already, conflicting=conflicting)


def write_benchmark(store: Path | str, benchmark: pl.DataFrame) -> WriteResult:
    """Add validated benchmark dates to the store; the store holds one index only."""
    path = _benchmark_path(Path(store))
    benchmark = benchmark.select(BENCHMARK_COLUMNS)
    stored = pl.read_parquet(path) if path.exists() else None
    if stored is not None and stored.height:
        have, new = set(stored["symbol"].unique()), set(benchmark["symbol"].unique())
        if have != new:
            raise UserInputError(
                f"store {store} holds benchmark {', '.join(sorted(have))}, not "
                f"{', '.join(sorted(new))}: use another --store for another index"
            )
    merged, result = _merge(stored, benchmark, ["date"], ["close"])
    if result.added:
        _atomic_write(merged.sort("date"), path)
    return result


def _year_files(store: Path, start: date | None, end: date | None) -> list[Path]:
    """The year files that can hold dates in [start, end]."""
    files = sorted(_bars_dir(store).glob("year=*.parquet"))
    if not files:
        raise UserInputError(f"store {store} holds no bars: run `cnnlstm ingest` first")
    lo = start.year if start else 0
    hi = end.year if end else 9999
    return [f for f in files if lo <= int(f.stem.split("=")[1]) <= hi]


def read_bars(
    store: Path | str,
    start: date | None = None,
    end: date | None = None,
    symbols: list[str] | None = None,
) -> pl.DataFrame:
    """Read bars with `start <= date <= end` (either open) for `symbols` (default all).

    Returns:
        The bars table sorted by symbol and date (empty, with its columns, if nothing matches).
    """
    store = Path(store)
    files = _year_files(store, start, end)
    if not files:
        return pl.DataFrame(schema=BARS_DTYPES)
    lf = pl.scan_parquet(files)
    if start is not None:
        lf = lf.filter(pl.col("date") >= start)
    if end is not None:
        lf = lf.filter(pl.col("date") <= end)
    if symbols is not None:
        lf = lf.filter(pl.col("symbol").is_in(list(symbols)))
    return lf.sort(_KEY).collect()


def read_benchmark(store: Path | str) -> pl.DataFrame | None:
    """Read the stored benchmark sorted by date, or None when the store holds none."""
    path = _benchmark_path(Path(store))
    return pl.read_parquet(path).sort("date") if path.exists() else None


def stored_symbols(store: Path | str) -> list[str]:
    """The symbols the store holds bars for, sorted."""
    files = _year_files(Path(store), None, None)
    return (
        pl.scan_parquet(files)
        .select(pl.col("symbol").unique())
        .collect()["symbol"]
        .sort()
        .to_list()
    )
