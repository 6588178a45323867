"""Ingestion: read a source, validate its bars and benchmark, add them to the Parquet store.

Input contract: a source spec `KIND:PATH` (see `tasks.data.sources.base.load_source`) or an already
read `SourceData`, an optional benchmark spec `KIND:PATH[#SYMBOL]`, and a store folder.

Nothing is dropped silently. Rows the source cannot vouch for (`SourceData.suspect`, e.g.
distorted forward-adjusted stretches) and rows that break `BarsSchema` either fail the run
(`on_invalid="fail"`, the default) or are written with their reasons to quarantine files under
`<store>/quarantine/` and counted in the report. Ingestion is incremental: only (symbol, date)
rows the store does not hold are added, so running it twice changes nothing. Rows that restate
stored ones (a re-adjusted history, a correction) fail the run or, with `on_restated="replace"`,
replace each such symbol's whole history (see `tasks.data.store`). Symbols that differ only in
case (`GOOD`, `good`) are refused: they would become two stocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.sessions import SessionCalendar
from cnnlstm.schemas.bars import BarsSchema, BenchmarkSchema
from cnnlstm.schemas.validation import OnInvalid, validate_table
from cnnlstm.tasks.data.sources.base import SourceData, load_benchmark, load_source
from cnnlstm.tasks.data.store import (
    OnRestated,
    Restatement,
    locked,
    stored_symbols,
    write_bars,
    write_benchmark,
)

EXAMPLES = 3


@dataclass
class IngestReport:
    """What one ingestion read, set aside and added to the store."""

    source: str
    store: Path
    stocks: int = 0
    rows: int = 0
    first_date: date | None = None
    last_date: date | None = None
    suspended_days: int = 0
    rows_rejected: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    quarantine_files: list[Path] = field(default_factory=list)
    rows_added: int = 0
    rows_already_stored: int = 0
    rows_conflicting: int = 0
    restated: list[Restatement] = field(default_factory=list)
    rows_replaced: int = 0
    benchmark: str | None = None
    benchmark_rows_added: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [
            f"source: {self.source}",
            f"store: {self.store}",
            f"read: {self.stocks} stocks, {self.rows} valid rows, "
            f"dates {self.first_date} .. {self.last_date}",
            f"suspended days (volume 0): {self.suspended_days}",
            f"rows rejected: {self.rows_rejected}"
            + (" (rows per failed check; a row can fail several):" if self.rejected else ""),
        ]
        out += [f"  {reason}: {n}" for reason, n in self.rejected.items()]
        out += [f"  quarantine file: {p}" for p in self.quarantine_files]
        out.append(
            f"rows added to store: {self.rows_added} (already stored: {self.rows_already_stored})"
        )
        if self.restated:
            out.append(
                f"  restated history replaced for {len(self.restated)} symbol(s) "
                f"({self.rows_replaced} stored row(s) replaced; logged in restatements.jsonl):"
            )
            out += [f"    {r.describe()}" for r in self.restated]
        if self.benchmark:
            out.append(f"benchmark: {self.benchmark} ({self.benchmark_rows_added} dates added)")
        out += [f"note: {n}" for n in self.notes]
        return out


def _quarantine_path(store: Path, table: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return store / "quarantine" / f"{table}-{stamp}.parquet"


def set_aside_suspect(
    bars: pl.DataFrame, suspect: pl.DataFrame | None, on_invalid: OnInvalid, store: Path
) -> tuple[pl.DataFrame, dict[str, int], Path | None]:
    """Fail on, or quarantine, the rows a source flagged as unreliable; return the rest."""
    if suspect is None or suspect.height == 0:
        return bars, {}, None
    counts = dict(suspect.group_by("reason", maintain_order=True).len().iter_rows())
    if on_invalid == "fail":
        lines = [
            f"{suspect.height} row(s) in {suspect['symbol'].n_unique()} stock(s) cannot be used "
            "(use --on-invalid quarantine to set them aside):"
        ]
        for reason, n in counts.items():
            rows = suspect.filter(pl.col("reason") == reason).head(EXAMPLES)
            shown = ", ".join(f"{s} {d}" for s, d in rows.select("symbol", "date").iter_rows())
            lines.append(f"  - {reason}: {n} row(s), e.g. {shown}")
        raise UserInputError("\n".join(lines))
    path = _quarantine_path(store, "bars-suspect")
    path.parent.mkdir(parents=True, exist_ok=True)
    keyed = suspect.select("symbol", "date", "reason")
    bars.join(keyed, on=["symbol", "date"], how="inner").write_parquet(path)
    kept = bars.join(keyed, on=["symbol", "date"], how="anti")
    return kept, counts, path


def check_benchmark_overlap(bars: pl.DataFrame, benchmark: pl.DataFrame, name: str) -> str | None:
    """Raise if the benchmark shares no date with the bars; describe a partial overlap."""
    stock_dates = bars.select(pl.col("date").unique())
    common = stock_dates.join(benchmark.select("date"), on="date", how="inner").height
    if common == 0:
        raise UserInputError(
            f"benchmark {name} covers {benchmark['date'].min()} .. {benchmark['date'].max()} but "
            f"the stocks cover {bars['date'].min()} .. {bars['date'].max()}: no common dates"
        )
    missing = stock_dates.height - common
    if missing:
        return (
            f"benchmark {name} has no close on {missing} of the stocks' {stock_dates.height} dates"
        )
    return None


class BenchmarkCoverage(BaseModel):
    """How a benchmark covers the stocks' sessions of a period (what the report states).

    Attributes:
        period_start, period_end: The period checked (the test period).
        sessions: The stocks' sessions in the period (dates with any bar).
        missing_sessions: Those without a benchmark close (the backtest carries it flat).
        first, last: The benchmark's first and last close in the period (None: none).
        longest_gap: The longest run of consecutive missing sessions.
        gaps: Runs longer than `max_gap_sessions`, and runs at either end of the period, as
            `(first missing, last missing, sessions)`.
        max_gap_sessions: The longest run allowed inside the period.
        covers: No missing session at either end and no run longer than allowed.
        accepted: The run went on although `covers` is false (`benchmark_coverage="accept"`).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    period_start: date
    period_end: date
    sessions: int
    missing_sessions: int
    first: date | None
    last: date | None
    longest_gap: int
    gaps: tuple[tuple[date, date, int], ...]
    max_gap_sessions: int
    covers: bool
    accepted: bool = False

    def describe(self) -> str:
        """One line: the coverage facts."""
        closes = f"closes {self.first} .. {self.last}" if self.first else "no close in it"
        text = (
            f"benchmark {self.name} has a close on {self.sessions - self.missing_sessions} of the "
            f"stocks' {self.sessions} sessions {self.period_start} .. {self.period_end} "
            f"({closes}; longest gap {self.longest_gap} session(s))"
        )
        if self.gaps:
            shown = ", ".join(f"{a} .. {b} ({n})" for a, b, n in self.gaps[:EXAMPLES])
            text += f"; uncovered: {shown}"
        return text


def benchmark_coverage(
    bars: pl.DataFrame,
    benchmark: pl.DataFrame,
    start: date,
    end: date,
    *,
    name: str,
    max_gap_sessions: int,
) -> BenchmarkCoverage:
    """Measure how `benchmark` covers the stocks' sessions (dates of `bars`) in [start, end]."""
    sessions = (
        bars.select(pl.col("date").unique().sort())
        .filter(pl.col("date").is_between(start, end))
        .join(
            benchmark.select("date", has=pl.lit(True)).unique("date"),
            on="date",
            how="left",
        )
        .with_columns(pl.col("has").fill_null(False))
    )
    runs = (
        sessions.with_row_index("i")
        .with_columns(run=(pl.col("has") != pl.col("has").shift(1)).fill_null(True).cum_sum())
        .filter(~pl.col("has"))
        .group_by("run")
        .agg(a=pl.col("date").min(), b=pl.col("date").max(), n=pl.len(), i0=pl.col("i").min())
        .sort("a")
    )
    n = sessions.height
    edge = (pl.col("i0") == 0) | (pl.col("i0") + pl.col("n") == n)
    bad = runs.filter(edge | (pl.col("n") > max_gap_sessions))
    present = sessions.filter("has")["date"]
    return BenchmarkCoverage(
        name=name,
        period_start=start,
        period_end=end,
        sessions=n,
        missing_sessions=int(runs["n"].sum()) if runs.height else 0,
        first=present.min() if present.len() else None,
        last=present.max() if present.len() else None,
        longest_gap=int(runs["n"].max()) if runs.height else 0,
        gaps=tuple((a, b, int(k)) for a, b, k in bad.select("a", "b", "n").iter_rows()),
        max_gap_sessions=max_gap_sessions,
        covers=bad.height == 0,
    )


def check_benchmark_coverage(
    coverage: BenchmarkCoverage, policy: Literal["fail", "accept"]
) -> BenchmarkCoverage:
    """Raise unless the benchmark covers the period or `policy` accepts it (then say so).

    Raises:
        UserInputError: the coverage falls short and `policy` is `fail`.
    """
    if coverage.covers:
        return coverage
    if policy == "accept":
        return coverage.model_copy(update={"accepted": True})
    raise UserInputError(
        f"{coverage.describe()}. Over uncovered sessions the benchmark would be carried flat, "
        "which changes every excess return. Give a benchmark that covers the test period, or "
        "accept it (--set data.benchmark_coverage=accept; DataParams.benchmark_coverage) and "
        "the report states the coverage; gaps of up to "
        f"{coverage.max_gap_sessions} session(s) inside the period are allowed "
        "(data.max_benchmark_gap_sessions)"
    )


def check_symbol_case(symbols: list[str], stored: list[str] = ()) -> None:
    """Raise if two symbols (incoming, or incoming and stored) differ only in letter case."""
    frame = pl.DataFrame(
        {"symbol": sorted(set(symbols) | set(stored))}, schema={"symbol": pl.String}
    )
    clashes = (
        frame.group_by(pl.col("symbol").str.to_uppercase().alias("upper"))
        .agg(pl.col("symbol").sort())
        .filter(pl.col("symbol").list.len() > 1)
        .sort("upper")
    )
    if clashes.height:
        shown = "; ".join(" and ".join(group) for group in clashes["symbol"].head(EXAMPLES))
        raise UserInputError(
            f"{clashes.height} symbol(s) differ only in case and would become separate stocks: "
            f"{shown}; name each stock one way in the files (the store may already hold one "
            "spelling)"
        )


def off_session_rows(
    bars: pl.DataFrame, calendar: SessionCalendar
) -> tuple[pl.DataFrame, str | None]:
    """Bars dated on a day the exchange did not trade (weekends, holidays), as suspect rows.

    Days outside the calendar's range (exchange-calendars publishes XSHG's holidays a year at a
    time) cannot be checked: they are kept and counted in the returned note.

    Returns:
        (suspect rows: symbol, date, reason; a note on the unchecked rows or None).
    """
    days = bars["date"]
    known = days.is_between(calendar.first, calendar.last)
    sessions = pl.Series(list(calendar.sessions(calendar.first, calendar.last)), dtype=pl.Date)
    off = bars.filter(known & ~days.is_in(sessions.implode()))
    reason = pl.format(
        "not a {} session ({})", pl.lit(calendar.name), pl.col("date").dt.strftime("%A")
    )
    suspect = off.select("symbol", "date", reason=reason)
    unchecked = int((~known).sum())
    note = None
    if unchecked:
        note = (
            f"{unchecked} row(s) dated outside the {calendar.name} calendar "
            f"({calendar.first} .. {calendar.last}) not checked against its sessions"
        )
    return suspect, note


def _suspect_rows(
    data: SourceData, sessions: SessionCalendar | None, report: IngestReport
) -> pl.DataFrame | None:
    """The source's suspect rows, plus the bars dated on a non-session (with `sessions`)."""
    suspect = data.suspect
    if sessions is None:
        return suspect
    off, note = off_session_rows(data.bars, sessions)
    report.notes += [note] if note else []
    if off.height:
        parts = [t for t in (suspect, off) if t is not None and t.height]
        keep = ["symbol", "date", "reason"]
        suspect = pl.concat([t.select(keep) for t in parts]).unique(
            ["symbol", "date"], keep="first", maintain_order=True
        )
    return suspect


def _count_checked(report: IngestReport, checked: Any, prefix: str = "") -> None:
    """Add a `validate_table` outcome's rejections and quarantine file to the report."""
    report.rejected.update({f"{prefix}{k}": v for k, v in checked.reasons.items()})
    report.rows_rejected += checked.rejected
    if checked.quarantine_path:
        report.quarantine_files.append(checked.quarantine_path)


def _valid_bars(
    data: SourceData,
    suspect: pl.DataFrame | None,
    on_invalid: OnInvalid,
    store: Path,
    report: IngestReport,
) -> pl.DataFrame:
    """The bars that pass: suspect rows set aside, then the `bars` schema; counted in `report`."""
    bars, suspect_counts, suspect_path = set_aside_suspect(data.bars, suspect, on_invalid, store)
    report.rejected.update(suspect_counts)
    report.rows_rejected += data.bars.height - bars.height
    if suspect_path:
        report.quarantine_files.append(suspect_path)
    checked = validate_table(
        bars,
        BarsSchema,
        table="bars",
        on_invalid=on_invalid,
        quarantine_path=_quarantine_path(store, "bars"),
    )
    _count_checked(report, checked)
    if checked.valid.height == 0:
        raise UserInputError(f"{data.report.source}: no valid bars to ingest")
    return checked.valid


def _valid_benchmark(
    bench: pl.DataFrame,
    bars: pl.DataFrame,
    name: str | None,
    on_invalid: OnInvalid,
    store: Path,
    report: IngestReport,
) -> pl.DataFrame:
    """The benchmark rows that pass its schema; a note when it does not cover the bars."""
    checked = validate_table(
        bench,
        BenchmarkSchema,
        table="benchmark",
        on_invalid=on_invalid,
        quarantine_path=_quarantine_path(store, "benchmark"),
    )
    _count_checked(report, checked, prefix="benchmark ")
    note = check_benchmark_overlap(bars, checked.valid, name)
    if note:
        report.notes.append(note)
    return checked.valid


def _write(
    store: Path,
    bars: pl.DataFrame,
    bench: tuple[pl.DataFrame, str | None] | None,
    on_restated: OnRestated,
    report: IngestReport,
) -> None:
    """Write bars (and the named benchmark) under the store's lock; the counts into `report`."""
    with locked(store):
        has_bars = any((store / "bars").glob("year=*.parquet"))
        check_symbol_case(
            bars["symbol"].unique().to_list(), stored_symbols(store) if has_bars else []
        )
        written = write_bars(store, bars, on_restated=on_restated, source=report.source)
        report.rows_added = written.added
        report.rows_already_stored = written.already_stored
        report.rows_conflicting = written.conflicting
        report.restated = list(written.restated)
        report.rows_replaced = written.replaced
        if bench is not None:
            table, name = bench
            report.benchmark = name
            bench_written = write_benchmark(store, table, on_restated=on_restated, source=name)
            report.benchmark_rows_added = bench_written.added
            report.restated += bench_written.restated
            report.rows_replaced += bench_written.replaced


def ingest_data(
    data: SourceData,
    store: Path | str,
    *,
    benchmark: pl.DataFrame | None = None,
    benchmark_name: str | None = None,
    on_invalid: OnInvalid = "fail",
    on_restated: OnRestated = "fail",
    sessions: SessionCalendar | None = None,
) -> IngestReport:
    """Validate an already read source and add it to the store (see the module docstring).

    With `sessions` (the market's exchange calendar), bars dated on a non-session are suspect
    rows: the run fails on them, or quarantines and counts them (`on_invalid`).
    """
    store = Path(store)
    report = IngestReport(source=data.report.source, store=store, notes=list(data.report.notes))
    report.rejected.update(data.report.rejected)
    report.rows_rejected = sum(data.report.rejected.values())
    suspect = _suspect_rows(data, sessions, report)
    bars = _valid_bars(data, suspect, on_invalid, store, report)
    bench = benchmark if benchmark is not None else data.benchmark
    name = benchmark_name or (
        f"{bench['symbol'][0]} (from the source)" if bench is not None else None
    )
    if bench is not None:
        bench = _valid_benchmark(bench, bars, name, on_invalid, store, report)
    _write(store, bars, None if bench is None else (bench, name), on_restated, report)
    report.stocks = bars["symbol"].n_unique()
    report.rows = bars.height
    report.first_date = bars["date"].min()
    report.last_date = bars["date"].max()
    report.suspended_days = int((bars["volume"] == 0).sum())
    return report


def ingest(
    source: str,
    store: Path | str,
    *,
    benchmark: str | None = None,
    on_invalid: OnInvalid = "fail",
    on_restated: OnRestated = "fail",
    source_options: dict[str, Any] | None = None,
) -> IngestReport:
    """Read `source` (`KIND:PATH`), and `benchmark` (`KIND:PATH[#SYMBOL]`) if given, into `store`.

    Raises:
        UserInputError: the source, benchmark or data cannot be used (the message says why).
    """
    data = load_source(source, **(source_options or {}))
    bench = load_benchmark(benchmark) if benchmark else None
    return ingest_data(
        data,
        store,
        benchmark=bench,
        benchmark_name=benchmark,
        on_invalid=on_invalid,
        on_restated=on_restated,
    )
