"""The data stages as cached Prefect tasks: ingest, validate, CNN features, LSTM windows.

Each stage is a thin wrapper: read its input artifacts, call the pure `tasks/` function, validate
the output with its pandera schema, write a content-addressed artifact and return the small
`ArtifactRef` (see `flows/stage_cache.py` for the cache key). Training, selection, timing,
backtest and report stages are in `flows/model_stages.py` and `flows/strategy_stages.py`.

Look-ahead guards live here where a stage cuts data by date: the bars handed to the research
protocol end at the test period's last day, and LSTM training windows are built from bars that
end at the training period's last day, so no label reads a test-period price.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.months import add_months
from cnnlstm.core.paths import data_home
from cnnlstm.core.sessions import SessionCalendar, calendar_name, exchange_calendar
from cnnlstm.flows.params import DataParams, Period, Protocol
from cnnlstm.flows.stages.cache import stage_task
from cnnlstm.infra import runtime
from cnnlstm.infra.artifacts import (
    ArtifactRef,
    fingerprint_input_path,
    write_arrays,
    write_json,
    write_table,
)
from cnnlstm.schemas.bars import BarsSchema, BenchmarkSchema
from cnnlstm.schemas.features import CnnFeaturesSchema
from cnnlstm.schemas.universe import MembershipSchema
from cnnlstm.schemas.validation import validate_table
from cnnlstm.tasks.data.ingest import (
    BenchmarkCoverage,
    benchmark_coverage,
    check_benchmark_coverage,
    ingest_data,
)
from cnnlstm.tasks.data.sources.base import (
    PATHLESS_KINDS,
    WINDOWED_KINDS,
    SourceData,
    load_benchmark,
    load_source,
    parse_spec,
)
from cnnlstm.tasks.data.store import read_bars, read_benchmark, store_generation
from cnnlstm.tasks.data.universe import (
    UniverseCoverage,
    check_members_with_data,
    read_membership,
    universe_coverage,
)
from cnnlstm.tasks.features import (
    CnnFeatureConfig,
    LstmWindowConfig,
    LstmWindows,
    build_cnn_features_counted,
    build_lstm_windows,
)
from cnnlstm.tasks.strategy.strategies import EW_UNIVERSE, equal_weight_index

#: Months of history before the training period that the CNN's features need (t-13 .. t-2).
LOOKBACK_MONTHS = 15


class Ingested(BaseModel):
    """What the ingest stage read: the source's bars and benchmark as stored, and its report."""

    model_config = ConfigDict(frozen=True)

    bars: ArtifactRef
    benchmark: ArtifactRef | None
    report: ArtifactRef
    universe: ArtifactRef | None = None
    """The `membership` table (`schemas/universe.py`); None: every stock on every date."""
    universe_name: str | None = None
    listing: ArtifactRef | None = None
    """Listing periods (same schema) that decide delisting; None: inferred from the bars."""


class Dataset(BaseModel):
    """Validated bars of the research span and the benchmark the report compares against."""

    model_config = ConfigDict(frozen=True)

    bars: ArtifactRef
    benchmark: ArtifactRef
    benchmark_name: str
    benchmark_derived: bool
    benchmark_coverage: BenchmarkCoverage | None = None
    """How the benchmark covers the test period's sessions (None: derived from the bars)."""
    universe: ArtifactRef | None = None
    """The universe's membership periods (None: every stock with bars, on every date)."""
    listing: ArtifactRef | None = None
    """Listing periods deciding delisting (None: inferred from the bars)."""
    universe_coverage: UniverseCoverage | None = None
    """How the bars cover the universe's members over the research span (the report's line)."""


def input_fingerprint(data: DataParams, today: date | None = None) -> str:
    """What identifies the source's content for the ingest stage's cache key.

    Files and folders: names, sizes and modification times (editing a file re-ingests); online
    sources: the day (a new day may bring new bars); the simulated market: its config (already
    in the key). An explicitly named store (which other ingests may write) adds its generation
    (`tasks.data.store.store_generation`), so a store restated since the last run re-ingests.
    """
    parts = []
    for file in (data.universe, data.listing):
        if file is not None:
            parts.append(fingerprint_input_path(file))
    for spec in (data.source, data.benchmark):
        if spec is None:
            continue
        parsed = parse_spec(spec, allow_symbol=spec is data.benchmark)
        if parsed.kind == "sim":
            parts.append("sim")
        elif parsed.kind.endswith("-online") or parsed.kind == "yfinance":
            parts.append(f"{parsed.kind}@{today or date.today()}")
        else:
            parts.append(fingerprint_input_path(parsed.path))
    if data.store:
        parts.append(f"store@{store_generation(data.store)}")
    return "+".join(parts)


ONLINE_KINDS = frozenset({"akshare-online", "yfinance"})
"""Kinds whose spec names tickers, not a path."""


def resolved_spec(spec: str, *, allow_symbol: bool = False) -> str:
    """A source spec with its path made absolute (`csv:stocks` -> `csv:/home/me/proj/stocks`).

    Two projects that both say `csv:stocks` mean two folders: the store name must tell them apart.
    """
    parsed = parse_spec(spec, allow_symbol=allow_symbol)
    if parsed.kind in PATHLESS_KINDS or parsed.kind in ONLINE_KINDS:
        where = parsed.path
    else:
        where = str(Path(parsed.path).expanduser().resolve())
    return f"{parsed.kind}:{where}" + (f"#{parsed.symbol}" if parsed.symbol else "")


def default_store(data: DataParams) -> Path:
    """The store of a source: `data.store`, else one folder per (source, benchmark) spec.

    A store holds one benchmark index, and a research run must not read another source's stocks,
    so each source gets its own store by default, named from its kind, its resolved absolute
    path and its reader options (and the benchmark's), never from the spec's text alone.
    """
    if data.store:
        return Path(data.store).expanduser().resolve()
    bench = resolved_spec(data.benchmark, allow_symbol=True) if data.benchmark else None
    options = sorted(data.reader_options().items())  # the sim's config for `sim`
    spec = f"{resolved_spec(data.source)}|{bench}|{options}"
    slug = hashlib.sha256(spec.encode()).hexdigest()[:12]
    kind = parse_spec(data.source).kind
    return data_home() / "stores" / f"{kind}-{slug}"


def universe_tables(
    data: DataParams, loaded: SourceData
) -> tuple[pl.DataFrame | None, str | None, pl.DataFrame | None]:
    """The run's membership table, its name and its listing table.

    A file named in `data.universe` / `data.listing` wins over the source's own tables.
    """
    membership, name = loaded.membership, loaded.universe_name
    if data.universe is not None:
        membership, name = read_membership(data.universe), Path(data.universe).stem
    listing = loaded.listing
    if data.listing is not None:
        listing = read_membership(data.listing, table="listing")
    return membership, name, listing


ZONED_KINDS = frozenset({"csv", "parquet"})
"""Kinds whose files may stamp bars with zoned date-times (read in the market's zone)."""


def market_clock(
    data: DataParams, market: str | None, options: dict | None = None
) -> tuple[dict, SessionCalendar | None]:
    """The reader options with the market's time zone, and the sessions to check bars against.

    The simulated market defines its own calendar: neither applies there. Without a market,
    zoned date-times are refused by the reader and no session is checked. `options`: the
    reader's options to add the zone to (default `data.reader_options()`).
    """
    options = dict(data.reader_options() if options is None else options)
    if market is None or data.is_sim:
        return options, None
    calendar = exchange_calendar(calendar_name(market))
    if parse_spec(data.source).kind in ZONED_KINDS:
        options.setdefault("timezone", calendar.tz)
    return options, calendar


@stage_task("ingest", version=5, retries=1, retry_delay_seconds=5)
def ingest(
    data: DataParams,
    source_fingerprint: str,
    span: Period | None = None,
    market: str | None = None,
) -> Ingested:
    """Read the source into its store (validated, incremental) and snapshot the source's bars.

    With `span` (the research span: look-back included), only those dates are read: a source
    that can read a date window (`WINDOWED_KINDS`, e.g. Qlib's `.bin` files sliced by calendar
    index) reads only them, and the snapshot reads only the store's year files of the span.
    Without it (walk-forward, live flows), everything the source holds.

    With `market` (cn, us), zoned date-times are read as the market's local dates and bars on a
    day its exchange did not trade fail the run or are quarantined (`data.on_invalid`).
    """
    logger = get_run_logger()
    store = default_store(data)
    options, sessions = market_clock(data, market, windowed_options(data, span))
    loaded = load_source(data.source, **options)
    bench = load_benchmark(data.benchmark) if data.benchmark else None
    report = ingest_data(
        loaded,
        store,
        benchmark=bench,
        benchmark_name=data.benchmark,
        on_invalid=data.on_invalid,
        on_restated=data.on_restated,
        sessions=sessions,
    )
    for line in report.lines():
        logger.info(line)
    symbols = loaded.bars["symbol"].unique().to_list()
    start, end = (span.start, span.end) if span else (None, None)
    bars = read_bars(store, start, end, symbols=symbols)
    stored_bench = read_benchmark(store)
    summary = {"lines": report.lines(), "store": str(store), "rows_added": report.rows_added}
    membership, name, listing = universe_tables(data, loaded)
    return Ingested(
        bars=write_table(bars, "ingest", meta={"stocks": len(symbols)}),
        benchmark=None if stored_bench is None else write_table(stored_bench, "ingest"),
        report=write_json(summary, "ingest"),
        universe=None if membership is None else write_table(membership, "ingest"),
        universe_name=name,
        listing=None if listing is None else write_table(listing, "ingest"),
    )


def windowed_options(data: DataParams, span: Period | None) -> dict:
    """The reader's options, with the span's dates where the source reads a date window.

    A user's own `start`/`end` source options win (they are the user's choice of what to read).
    """
    options = data.reader_options()
    if span is None or parse_spec(data.source).kind not in WINDOWED_KINDS:
        return options
    return {"start": span.start, "end": span.end} | options


def research_span(protocol: Protocol) -> Period:
    """The bars a research run may read: lookback before training, nothing after the test."""
    start = add_months(protocol.train.start, -LOOKBACK_MONTHS)
    return Period(start=start, end=protocol.test.end)


def checked_universe(
    ingested: Ingested, bars: pl.DataFrame, span: Period, policy: str
) -> tuple[ArtifactRef | None, UniverseCoverage | None]:
    """The membership table validated, and how the bars cover its members over `span`.

    Raises:
        UserInputError: members without data and `policy == "fail"`.
    """
    if ingested.universe is None:
        return None, None
    table = validate_table(ingested.universe.read_table(), MembershipSchema, table="membership")
    coverage = universe_coverage(
        table.valid, bars, start=span.start, end=span.end, name=ingested.universe_name or "universe"
    )
    check_members_with_data(coverage, policy)
    get_run_logger().info(f"universe: {coverage.rule()}")
    return ingested.universe, coverage


@stage_task("validate", version=3)
def validate(ingested: Ingested, protocol: Protocol, data: DataParams) -> Dataset:
    """Check the bars and benchmark against their schemas and the protocol's dates.

    A benchmark index must have a close on the stocks' first and last test sessions and no run
    of more than `data.max_benchmark_gap_sessions` sessions without one (else it would be
    carried flat), unless `data.benchmark_coverage="accept"`; the coverage is returned in
    `Dataset.benchmark_coverage` either way, for the report to state.

    Raises:
        DataValidationError: a table breaks its schema.
        UserInputError: the data do not cover the training or test period, or the benchmark
            does not cover the test period (naming the dates).
    """
    logger = get_run_logger()
    span = research_span(protocol)
    bars = ingested.bars.read_table().filter(pl.col("date").is_between(span.start, span.end))
    bars = validate_table(bars, BarsSchema, table="bars").valid
    if bars.height == 0:
        raise UserInputError(f"no bars between {span.start} and {span.end}")
    first, last = bars["date"].min(), bars["date"].max()
    if first >= protocol.train.end or last < protocol.test.start:
        raise UserInputError(
            f"the bars span {first}..{last}; the protocol trains {protocol.train} and tests "
            f"{protocol.test}: the data must reach into both"
        )
    if first > span.start:
        logger.info(
            f"bars start {first}, after {span.start}: the first training months lack the "
            f"{LOOKBACK_MONTHS} months of history the CNN's features need and are not eligible"
        )
    if ingested.benchmark is not None:
        bench = ingested.benchmark.read_table().filter(
            pl.col("date").is_between(span.start, span.end)
        )
        name, derived = str(bench["symbol"][0]) if bench.height else "benchmark", False
    else:
        bench = equal_weight_index(bars, start=first, end=last)
        name, derived = EW_UNIVERSE, True
        logger.info("no benchmark index given: using the equal-weighted universe (EW_UNIVERSE)")
    bench = validate_table(bench, BenchmarkSchema, table="benchmark").valid
    coverage = None
    if not derived:
        coverage = benchmark_coverage(
            bars,
            bench,
            protocol.test.start,
            protocol.test.end,
            name=name,
            max_gap_sessions=data.max_benchmark_gap_sessions,
        )
        coverage = check_benchmark_coverage(coverage, data.benchmark_coverage)
        logger.info(coverage.describe() + (" (accepted)" if coverage.accepted else ""))
    logger.info(f"bars: {bars['symbol'].n_unique()} stocks, {bars.height} rows, {first}..{last}")
    universe, members = checked_universe(
        ingested, bars, Period(start=protocol.train.start, end=last), data.missing_members
    )
    if ingested.listing is not None:
        validate_table(ingested.listing.read_table(), MembershipSchema, table="listing")
    return Dataset(
        bars=write_table(bars, "validate", meta={"first": str(first), "last": str(last)}),
        benchmark=write_table(bench, "validate"),
        benchmark_name=name,
        benchmark_derived=derived,
        benchmark_coverage=coverage,
        universe=universe,
        listing=ingested.listing,
        universe_coverage=members,
    )


@stage_task("cnn_features", version=2)
def cnn_features(
    bars: ArtifactRef, cfg: CnnFeatureConfig, universe: ArtifactRef | None = None
) -> ArtifactRef:
    """The CNN's monthly table for every month the bars allow (labels null where unknown).

    With `universe` (a `membership` table), month t's rows are the members on its rebalance date.
    """
    runtime.prefetch_imports()  # a CNN training follows: its imports overlap this stage
    membership = None if universe is None else universe.read_table()
    features, eligibility = build_cnn_features_counted(bars.read_table(), cfg, membership)
    features = validate_table(features, CnnFeaturesSchema, table="cnn_features").valid
    for line in eligibility.lines():
        get_run_logger().info(line)
    return write_table(features, "cnn_features", meta=eligibility.totals())


@stage_task("lstm_windows", version=1)
def lstm_windows(bars: ArtifactRef, cfg: LstmWindowConfig, train: Period) -> ArtifactRef:
    """Labelled LSTM training windows from bars that end at the training period's last day.

    Cutting the bars at `train.end` before building keeps every label (which reads the next
    days' prices) inside the training period.
    """
    runtime.prefetch_imports()  # an LSTM training follows: its imports overlap this stage
    frame = bars.read_table().filter(pl.col("date") <= train.end)
    windows = build_lstm_windows(frame, cfg, with_labels=True)
    in_period = (windows.keys["date"] >= train.start).to_numpy()
    if not in_period.any():
        raise UserInputError(f"no complete LSTM window with a label in {train}")
    kept = LstmWindows(
        x=windows.x[in_period],  # (N, window, 6) float32
        y=windows.y[in_period],  # (N,) int64
        keys=windows.keys.filter(pl.Series(in_period)),
    )
    get_run_logger().info(f"lstm windows: {len(kept)} labelled windows in {train}")
    return write_arrays(
        windows_to_arrays(kept),
        "lstm_windows",
        meta={k: int(v) for k, v in windows.counts.items()},
    )


def windows_to_arrays(windows: LstmWindows) -> dict[str, np.ndarray]:
    """Labelled windows as the arrays the `lstm_windows` artifact stores."""
    keys = windows.keys
    return {
        "x": windows.x,  # (N, window, 6) float32
        "y": windows.y,  # (N,) int64
        "date": keys["date"].to_numpy().astype("datetime64[D]"),
        "symbol": keys["symbol"].to_numpy().astype(str),
        "fwd_return": keys["fwd_return"].fill_null(np.nan).to_numpy().astype(np.float64),
    }


def windows_from_arrays(arrays: dict[str, np.ndarray]) -> LstmWindows:
    """Rebuild `LstmWindows` from a stored `lstm_windows` artifact's arrays."""
    keys = pl.DataFrame(
        {
            "symbol": pl.Series(arrays["symbol"].astype(str), dtype=pl.Utf8),
            "date": pl.Series(arrays["date"].astype("datetime64[D]"), dtype=pl.Date),
            "fwd_return": pl.Series(arrays["fwd_return"], dtype=pl.Float64),
        }
    )
    return LstmWindows(x=arrays["x"], y=arrays["y"], keys=keys)


@stage_task("bars_as_of", version=1)
def bars_as_of(ingested: Ingested, as_of: date) -> ArtifactRef:
    """The stored bars up to and including `as_of`, validated (what a live decision may see)."""
    bars = ingested.bars.read_table().filter(pl.col("date") <= as_of)
    if bars.height == 0:
        raise UserInputError(f"the store holds no bars on or before {as_of}")
    bars = validate_table(bars, BarsSchema, table="bars").valid
    return write_table(bars, "bars_as_of", meta={"last": str(bars["date"].max())})
