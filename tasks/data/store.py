"""The local Parquet store of validated bars and the benchmark.

Layout: `<store>/bars/year=YYYY.parquet` (one file per calendar year, rows sorted by symbol and
date), `<store>/benchmark.parquet`, and beside them `.lock` (the writers' lock),
`generation` (changes on every write that changes data), `manifest.json` (each file's checksum,
`store_manifest`), `restatements.jsonl` (what was replaced, when) and, only while a write is
being committed, `journal.json`. Input contract:
frames that already passed `BarsSchema` / `BenchmarkSchema` (ingestion validates before writing).

What the store guarantees (docs/DATA.md):
- One writer at a time: every write holds an exclusive file lock (`filelock`) from reading the
  stored rows to renaming the new files, so two concurrent ingests into one store lose no rows.
  Readers take the same lock for the moment they read, so they never see half a write.
- Writes are atomic: new year files are written to temporary files, a journal lists their
  renames, then they are renamed; a write interrupted after the journal is completed by the next
  writer or reader (`_recover`), one interrupted before it leaves the store as it was.
- Checked on each read: every file's bytes against its checksum in the manifest, written in
  the same journaled commit as the file (`StoreDamagedError` naming the file and the commands
  that rebuild it; a file that does not parse, even with a Rust panic inside polars, likewise).
  Local damage is therefore never taken for a restatement by the source.
- Verified on each write: every new file is read back before the commit point and its row
  count and the uniqueness of its (symbol, date) keys checked (`StoreIntegrityError`
  otherwise, and the store is left as it was).
- Incremental and idempotent: rows whose (symbol, date) the store does not hold are added;
  writing the same bars twice changes nothing (not even `generation`).
- One basis per symbol: rows that arrive for stored keys with other values are a restatement
  (a re-adjustment when every overlapping price differs by one near-constant factor, as after a
  split or dividend in back-adjusted data; else a correction). By policy (`on_restated`) the
  write fails (default) naming symbols, dates and factor, or replaces each restated symbol's
  whole history with the incoming rows in one atomic commit, and logs it. The store never
  holds a symbol partly on one basis and partly on another.
Partitioning by year keeps an incremental daily update to rewriting one small file.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import filelock
import polars as pl

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.files import file_lock, temporary_for, write_atomic
from cnnlstm.schemas.bars import BAR_COLUMNS, BARS_DTYPES, BENCHMARK_COLUMNS
from cnnlstm.tasks.data import store_manifest as manifests
from cnnlstm.tasks.data.store_manifest import StoreCheck, StoreDamagedError, check_files

__all__ = ["StoreDamagedError", "StoreCheck"]  # re-exported: the store's errors and checks

OnRestated = Literal["fail", "replace"]

_KEY = ["symbol", "date"]
_VALUES = [c for c in BAR_COLUMNS if c not in _KEY]
_PRICES = ["open", "high", "low", "close"]
#: Seconds a writer waits for another writer's lock before it gives up with a clear error.
LOCK_TIMEOUT_S = 600.0
#: Slack of the re-adjustment test: |new - factor x stored| <= half a cent on each side plus
#: this relative part (rounding of exported prices), for every overlapping price.
_ROUNDING = 0.005
_RELATIVE = 1e-6
#: Relative difference below which a value equals its stored one (float noise of a re-export).
_NOISE = 1e-9
EXAMPLES = 5


class StoreIntegrityError(RuntimeError):
    """A store file read back after a write does not hold what was written (not user input)."""


class RestatementError(UserInputError):
    """Incoming rows restate stored ones and the policy is `fail`; `restated` lists them."""

    def __init__(self, message: str, restated: list[Restatement]):
        super().__init__(message)
        self.restated = restated


@dataclass(frozen=True)
class Restatement:
    """One symbol whose stored rows arrived again with other values."""

    symbol: str
    kind: Literal["re-adjustment", "correction"]
    rows_differing: int
    overlap_rows: int
    first: date
    last: date
    factor: float | None
    """The near-constant price ratio new / stored of a re-adjustment (None for a correction)."""
    example: str
    """One differing row, `2017-12-29 close 10.65 -> 5.33`."""
    through: date | None = None
    """A re-adjustment of the history up to this date only (the later rows are unchanged)."""

    def describe(self) -> str:
        """One readable line."""
        upto = f" up to {self.through}" if self.through else ""
        what = (
            f"re-adjustment: every price{upto} x{self.factor:.4f}"
            if self.kind == "re-adjustment"
            else f"correction, e.g. {self.example}"
        )
        return (
            f"{self.symbol}: {self.rows_differing} stored row(s) differ of the "
            f"{self.overlap_rows} between {self.first} and {self.last} ({what})"
        )


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows added, rows already stored, and what was restated."""

    added: int
    already_stored: int
    conflicting: int = 0
    """Stored rows that arrived with other values (all in `restated`)."""
    restated: list[Restatement] = field(default_factory=list)
    replaced: int = 0
    """Stored rows removed because their symbol's history was replaced (policy `replace`)."""


def _bars_dir(store: Path) -> Path:
    return Path(store) / "bars"


def _benchmark_path(store: Path) -> Path:
    return Path(store) / "benchmark.parquet"


def _year_path(store: Path, year: int) -> Path:
    return _bars_dir(store) / f"year={year:04d}.parquet"


def _journal_path(store: Path) -> Path:
    return Path(store) / "journal.json"


def restatement_log_path(store: Path | str) -> Path:
    """The store's log of replaced histories (one JSON object per line)."""
    return Path(store) / "restatements.jsonl"


# --- the lock and the commit -------------------------------------------------------------------


def _lock(store: Path) -> filelock.BaseFileLock:
    """The store's lock: one object per path in a process (re-entrant), exclusive across them."""
    return file_lock(Path(store).resolve() / ".lock", timeout=LOCK_TIMEOUT_S, reentrant=True)


@contextmanager
def locked(store: Path | str, *, create: bool = True) -> Iterator[None]:
    """Hold the store's exclusive lock (and complete an interrupted commit first).

    Args:
        store: The store folder.
        create: Create the folder (writers); readers of a missing or read-only store go on
            without a lock.

    Raises:
        UserInputError: another process held the lock for `LOCK_TIMEOUT_S` seconds.
    """
    store = Path(store)
    if create:
        store.mkdir(parents=True, exist_ok=True)
    if not store.is_dir():  # a reader of a store that does not exist: nothing to lock
        yield
        return
    lock = _lock(store)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise UserInputError(
            f"store {store} is locked by another writer for over {LOCK_TIMEOUT_S:.0f} s "
            f"(lock file {store / '.lock'}); wait for it to finish or use another --store"
        ) from None
    except OSError:
        if create:
            raise
        lock = None  # a missing or read-only store: nothing writes it through this lock
    try:
        if lock is not None:
            _recover(store)
        yield
    finally:
        if lock is not None:
            lock.release()


def _write_parquet(df: pl.DataFrame, path: Path) -> None:
    """Write one Parquet file (a seam, so tests can make a write lose rows)."""
    df.write_parquet(path, statistics=True)


def _tmp_for(path: Path) -> Path:
    return temporary_for(path)


def _commit(
    store: Path, files: dict[Path, pl.DataFrame | None], *, source: str | None = None
) -> None:
    """Replace several store files at once: write and verify temporaries, journal, rename.

    `None` (or an empty frame) removes the file. A file that does not read back as written
    fails the write before the commit point, so the store stays as it was. The journal also
    holds the new manifest (the new files' checksums) and the new `generation`: whoever
    completes the commit (this writer, or the next one after a crash) writes both. Call with
    the lock held.
    """
    renames: list[tuple[str, str]] = []
    removes: list[str] = []
    manifest = manifests.read_manifest(store)
    journal = _journal_path(store)
    tmp_journal = _tmp_for(journal)
    try:
        for path, df in files.items():
            if df is None or df.height == 0:
                removes.append(str(path))
                manifest["files"].pop(manifests.relative(store, path), None)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = _tmp_for(path)
            renames.append((str(tmp), str(path)))
            _write_parquet(df, tmp)
            _verify(tmp, df, path)
            manifest["files"][manifests.relative(store, path)] = manifests.digest(tmp)
        manifest["source"] = source or manifest.get("source")
        plan = {"renames": renames, "removes": removes, "manifest": manifest}
        tmp_journal.write_text(json.dumps(plan | {"generation": _new_generation()}))
        os.replace(tmp_journal, journal)  # the commit point
    except BaseException:
        for tmp, _ in renames:
            Path(tmp).unlink(missing_ok=True)
        tmp_journal.unlink(missing_ok=True)
        raise
    _recover(store)


def _recover(store: Path) -> None:
    """Complete a journaled commit and remove a crashed writer's temporaries (lock held).

    Renames are idempotent: a done one has no temporary left; the manifest and `generation`
    are written from the journal before it goes, so after a recovery both describe the files.
    Without a journal, temporaries belong to a write that died before its commit point: they
    are not data.
    """
    journal = _journal_path(store)
    if journal.exists():
        plan = json.loads(journal.read_text())
        for tmp, target in plan["renames"]:
            if Path(tmp).exists():
                os.replace(tmp, target)
        for target in plan["removes"]:
            Path(target).unlink(missing_ok=True)
        manifest = plan.get("manifest")
        if manifest is None:  # a journal of before checksums: its files become unrecorded
            manifest = manifests.read_manifest(store)
            for target in [t for _, t in plan["renames"]] + plan["removes"]:
                manifest["files"].pop(manifests.relative(store, Path(target)), None)
        manifests.write_manifest(store, manifest)
        _set_generation(store, plan.get("generation") or _new_generation())
        journal.unlink()
    for folder in (store, _bars_dir(store)):
        for leftover in folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)


def _verify(path: Path, expected: pl.DataFrame, name: Path) -> None:
    """Read a written file back: the row count and unique keys must be those written."""
    keys = [c for c in _KEY if c in expected.columns]
    unique = pl.struct(keys).n_unique() if len(keys) > 1 else pl.col(keys[0]).n_unique()
    rows, unique = pl.scan_parquet(path).select(pl.len(), unique).collect().row(0)
    if rows != expected.height or unique != rows:
        raise StoreIntegrityError(
            f"store file {name} read back {rows} row(s) ({unique} unique keys) after a write of "
            f"{expected.height}: nothing was changed; the disk or another program corrupts "
            "writes here (check free space and the file system), or report this as a bug"
        )


def store_generation(store: Path | str) -> str:
    """An id that changes on every write that changes the store's data ("" for a new store).

    Part of the ingest stage's cache key, so a restated store makes every downstream stage
    recompute even when the source files look unchanged.
    """
    path = Path(store) / "generation"
    return path.read_text().strip() if path.exists() else ""


def _new_generation() -> str:
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"


def _set_generation(store: Path, generation: str) -> None:
    write_atomic(store / "generation", generation + "\n")


def _log_restatements(
    store: Path, restated: list[Restatement], replaced: dict[str, int], source: str | None
) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with restatement_log_path(store).open("a") as handle:
        for item in restated:
            entry = asdict(item) | {
                "replaced_at": stamp,
                "source": source,
                "rows_replaced": replaced.get(item.symbol, 0),
            }
            handle.write(json.dumps(entry, default=str) + "\n")


def read_restatements(store: Path | str) -> list[dict]:
    """The store's restatement log, oldest first (empty when nothing was ever replaced)."""
    path = restatement_log_path(store)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- restatements ------------------------------------------------------------------------------


def _differs(column: str) -> pl.Expr:
    """Whether a value differs from its stored one (beyond float noise; null vs value counts)."""
    a, b = pl.col(column), pl.col(f"{column}_stored")
    noise = _NOISE * pl.max_horizontal(a.abs(), b.abs())
    return (a.is_null() != b.is_null()) | ((a - b).abs() > noise).fill_null(False)


def find_restatements(
    stored: pl.DataFrame, new: pl.DataFrame, values: list[str], prices: list[str]
) -> list[Restatement]:
    """The symbols whose stored rows arrive in `new` with other values, each classified.

    A re-adjustment: every differing price is `factor x` its stored value (within rounding to
    cents), with one factor, and the differing rows are the whole overlap or all of it up to
    a date (back-adjusted data after a dividend or split: the history before the event is
    rescaled, the rows after it are not). Anything else: a correction.
    """
    return _compare(stored, new, values, prices)[0]


def _compare(
    stored: pl.DataFrame, new: pl.DataFrame, values: list[str], prices: list[str]
) -> tuple[list[Restatement], int, pl.DataFrame]:
    """`find_restatements`, the count of `new` rows whose key is stored, and the other rows.

    One left join answers all three (a full idempotent re-ingest is dominated by it).
    """
    if stored.height == 0:
        return [], 0, new
    marked = new.join(
        stored.select(
            *_KEY, *[pl.col(c).alias(f"{c}_stored") for c in values], _stored=pl.lit(True)
        ),
        on=_KEY,
        how="left",
    )
    is_stored = pl.col("_stored").fill_null(False)
    fresh = marked.filter(~is_stored).select(new.columns)
    joined = marked.filter(is_stored)
    joined = joined.with_columns(_differs=pl.any_horizontal(_differs(c) for c in values))
    changed = joined.filter("_differs")["symbol"].unique().sort().to_list()
    out = []
    for symbol in changed:
        rows = joined.filter(pl.col("symbol") == symbol)
        bad = rows.filter("_differs")
        same = rows.filter(~pl.col("_differs"))
        factor = (bad["close"] / bad["close_stored"]).median()
        fits = pl.all_horizontal(
            (pl.col(c) - factor * pl.col(f"{c}_stored")).abs()
            <= _ROUNDING * (1 + factor) + _RELATIVE * pl.col(c).abs()
            for c in prices
        )
        prefix = same.height == 0 or bad["date"].max() < same["date"].min()
        readjusted = (
            factor is not None
            and abs(factor - 1) > 1e-6
            and prefix
            and bool(bad.select(fits.all()).item())
        )
        first_bad = bad.row(0, named=True)
        column = next(c for c in values if bad.head(1).select(_differs(c)).item())
        was, now = first_bad[f"{column}_stored"], first_bad[column]
        example = f"{first_bad['date']} {column} {was} -> {now}"
        out.append(
            Restatement(
                symbol=symbol,
                kind="re-adjustment" if readjusted else "correction",
                rows_differing=bad.height,
                overlap_rows=rows.height,
                first=rows["date"].min(),
                last=rows["date"].max(),
                factor=float(factor) if readjusted else None,
                example=example,
                through=bad["date"].max() if readjusted and same.height else None,
            )
        )
    return out, joined.height, fresh


def _refuse(restated: list[Restatement], what: str) -> RestatementError:
    lines = [
        f"{len(restated)} {what} arrived with values that differ from the stored ones; the "
        "store keeps one basis per symbol and does not mix them:"
    ]
    lines += [f"  - {r.describe()}" for r in restated[:EXAMPLES]]
    if len(restated) > EXAMPLES:
        lines.append(f"  - ... and {len(restated) - EXAMPLES} more")
    lines.append(
        "to replace each of these symbols' whole stored history with the incoming rows, re-run "
        "`cnnlstm ingest` with --on-restated replace (a backtest: --set data.on_restated=replace; "
        "DataParams.on_restated='replace'); the replacement is logged in the store's "
        "restatements.jsonl"
    )
    return RestatementError("\n".join(lines), restated)


# --- writes and reads --------------------------------------------------------------------------


def _stored_rows(store: Path, symbols: list[str], years: set[int] | None = None) -> pl.DataFrame:
    """Stored rows of `symbols`, from the year files of `years` (default: every year)."""
    files = sorted(_bars_dir(store).glob("year=*.parquet"))
    if years is not None:
        files = [f for f in files if int(f.stem.split("=")[1]) in years]
    if not files:
        return pl.DataFrame(schema=BARS_DTYPES)
    return _read_checked(
        store, files, lambda fs: pl.scan_parquet(fs).filter(pl.col("symbol").is_in(symbols))
    )


def _read_checked(
    store: Path, files: list[Path], query: Callable[[list[Path]], pl.LazyFrame]
) -> pl.DataFrame:
    """Collect `query(files)` after checking each file against the manifest.

    A file that does not parse (polars' errors, a Rust panic included) is named in one line.

    Raises:
        StoreDamagedError: a file's checksum differs or it does not parse.
    """
    check_files(store, files)
    try:
        return query(files).collect()
    except (pl.exceptions.PolarsError, OSError, pl.exceptions.PanicException) as err:
        source = manifests.read_manifest(store)["source"]
        for path in files:
            if why := manifests.parse_error(path):
                raise manifests.damaged(store, path, why, source) from None
        raise err


def check_store(store: Path | str) -> StoreCheck:
    """Every file of the store against its checksum and decoded in full (`store verify`)."""
    with locked(store, create=False):
        return manifests.check_store(Path(store))


def drop_damaged(store: Path | str) -> list[str]:
    """Remove the damaged files (and the manifest's missing ones); returns what was dropped.

    A re-ingest then rebuilds them from the source; `generation` changes, so every cached stage
    downstream recomputes.
    """
    store = Path(store)
    with locked(store):
        found = manifests.check_store(store)
        dropped = sorted(found.damaged) + found.missing
        if dropped:
            _commit(store, {store / rel: None for rel in dropped})
    return dropped


def write_bars(
    store: Path | str,
    bars: pl.DataFrame,
    *,
    on_restated: OnRestated = "fail",
    source: str | None = None,
) -> WriteResult:
    """Add validated bars to the store (see the module docstring for what it guarantees).

    Args:
        store: The store folder (created on demand).
        bars: Validated bars (`BarsSchema`).
        on_restated: What to do when stored (symbol, date) rows arrive with other values:
            `fail` (default) raises `RestatementError`; `replace` replaces each such symbol's
            whole history with its incoming rows and logs it.
        source: The source spec, for the restatement log.

    Raises:
        RestatementError: restated rows under `on_restated="fail"` (nothing is written).
    """
    store = Path(store)
    bars = bars.select(BAR_COLUMNS).cast(BARS_DTYPES)
    with locked(store):
        symbols = bars["symbol"].unique().to_list()
        # only the year files of the incoming dates can hold the same keys (a daily update
        # reads one year file, not the whole store)
        stored = _stored_rows(store, symbols, set(bars["date"].dt.year().unique().to_list()))
        restated, again, fresh = _compare(stored, bars, _VALUES, _PRICES)
        if restated and on_restated != "replace":
            raise _refuse(restated, "symbol(s)")
        redo = [r.symbol for r in restated]
        incoming = pl.concat(
            [fresh.filter(~pl.col("symbol").is_in(redo)), bars.filter(pl.col("symbol").is_in(redo))]
        )
        removed = _stored_rows(store, redo) if redo else stored.clear()
        if incoming.height == 0:
            return WriteResult(added=0, already_stored=again)
        years = set(incoming["date"].dt.year().unique().to_list())
        years |= set(removed["date"].dt.year().unique().to_list())
        files: dict[Path, pl.DataFrame | None] = {}
        for year in sorted(years):
            path = _year_path(store, int(year))
            kept = (
                _read_checked(store, [path], pl.scan_parquet)
                if path.exists()
                else pl.DataFrame(schema=BARS_DTYPES)
            )
            kept = kept.filter(~pl.col("symbol").is_in(redo))
            part = incoming.filter(pl.col("date").dt.year() == year)
            files[path] = pl.concat([kept, part]).sort(_KEY)
        _commit(store, files, source=source)
        replaced = dict(removed.group_by("symbol").len().iter_rows())
        if restated:
            _log_restatements(store, restated, replaced, source)
    return WriteResult(
        added=fresh.height,
        already_stored=again,
        conflicting=sum(r.rows_differing for r in restated),
        restated=restated,
        replaced=removed.height,
    )


def write_benchmark(
    store: Path | str,
    benchmark: pl.DataFrame,
    *,
    on_restated: OnRestated = "fail",
    source: str | None = None,
) -> WriteResult:
    """Add validated benchmark dates to the store; the store holds one index only.

    Stored dates arriving with another close follow `on_restated` as bars do (`replace`
    replaces the whole stored index).
    """
    store = Path(store)
    path = _benchmark_path(store)
    benchmark = benchmark.select(BENCHMARK_COLUMNS)
    with locked(store):
        stored = _read_checked(store, [path], pl.scan_parquet) if path.exists() else None
        if stored is not None and stored.height:
            have, new = set(stored["symbol"].unique()), set(benchmark["symbol"].unique())
            if have != new:
                raise UserInputError(
                    f"store {store} holds benchmark {', '.join(sorted(have))}, not "
                    f"{', '.join(sorted(new))}: use another --store for another index"
                )
        stored = stored if stored is not None else benchmark.clear()
        restated, again, fresh = _compare(stored, benchmark, ["close"], ["close"])
        if restated and on_restated != "replace":
            raise _refuse(restated, "benchmark index")
        if restated:
            merged = benchmark
        elif fresh.height:
            merged = pl.concat([stored, fresh])
        else:
            return WriteResult(added=0, already_stored=again)
        _commit(store, {path: merged.sort("date")}, source=source)
        if restated:
            _log_restatements(store, restated, {restated[0].symbol: stored.height}, source)
    return WriteResult(
        added=fresh.height,
        already_stored=again if not restated else 0,
        conflicting=sum(r.rows_differing for r in restated),
        restated=restated,
        replaced=stored.height if restated else 0,
    )


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
    with locked(store, create=False):
        files = _year_files(store, start, end)
        if not files:
            return pl.DataFrame(schema=BARS_DTYPES)

        def query(checked: list[Path]) -> pl.LazyFrame:
            lf = pl.scan_parquet(checked)
            if start is not None:
                lf = lf.filter(pl.col("date") >= start)
            if end is not None:
                lf = lf.filter(pl.col("date") <= end)
            if symbols is not None:
                lf = lf.filter(pl.col("symbol").is_in(list(symbols)))
            return lf.sort(_KEY)

        return _read_checked(store, files, query)


def read_benchmark(store: Path | str) -> pl.DataFrame | None:
    """Read the stored benchmark sorted by date, or None when the store holds none."""
    path = _benchmark_path(Path(store))
    with locked(store, create=False):
        if not path.exists():
            return None
        return _read_checked(Path(store), [path], lambda fs: pl.scan_parquet(fs).sort("date"))


def stored_symbols(store: Path | str) -> list[str]:
    """The symbols the store holds bars for, sorted."""
    with locked(store, create=False):
        files = _year_files(Path(store), None, None)
        found = _read_checked(
            Path(store), files, lambda fs: pl.scan_parquet(fs).select(pl.col("symbol").unique())
        )
        return found["symbol"].sort().to_list()
