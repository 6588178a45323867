"""The strategy stages as cached Prefect tasks: select, LSTM signals, backtest, report.

Input contract: the validated `Dataset` (`flows.stages.data.validate`), the `cnn_features` artifact,
the trained networks (`flows.stages.training.TrainedRef`) and the protocol's test period. Outputs
are the `scores`/`selection`/`signals`/`trades`/`nav` tables of `schemas/strategy.py` and the
report's files, each a content-addressed artifact.

Look-ahead guards: month t's scores come from its features (known after `rebalance_date`'s
close); an LSTM signal for day d comes from the window ending at d, built from bars cut at the
test period's end.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.params import Period, Protocol
from cnnlstm.flows.stages.cache import stage_task
from cnnlstm.flows.stages.data import Dataset
from cnnlstm.flows.stages.training import TrainedRef
from cnnlstm.infra import runtime
from cnnlstm.infra.artifacts import ArtifactRef, store_file, write_json, write_table
from cnnlstm.schemas.strategy import (
    NavSchema,
    ScoresSchema,
    SelectionSchema,
    SignalsSchema,
    TradesSchema,
)
from cnnlstm.schemas.validation import validate_table
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.backtest.api import MarketArrays, market_rules
from cnnlstm.tasks.features import LstmWindowConfig, build_lstm_windows
from cnnlstm.tasks.report.build import (
    Report,
    ReportConfig,
    ReportInputs,
    build_report,
    write_report,
)
from cnnlstm.tasks.report.caveats import RunFacts
from cnnlstm.tasks.report.measures import dump_metrics
from cnnlstm.tasks.report.metrics import signal_outcomes
from cnnlstm.tasks.report.notes import notes_table
from cnnlstm.tasks.report.seeds import combine, seeds_table
from cnnlstm.tasks.report.tearsheet import tear_sheet_html
from cnnlstm.tasks.strategy.indexes import equal_weight_capital_needed, monthly_index_nav
from cnnlstm.tasks.strategy.nulls import NullConfig, run_nulls
from cnnlstm.tasks.strategy.select import (
    SelectionConfig,
    ensemble_scores,
    momentum_scores,
    select_top,
    universe_selection,
)
from cnnlstm.tasks.strategy.strategies import (
    StrategySet,
    benchmark_nav,
    equal_weight_index,
    prepare_strategies,
    run_prepared,
)
from cnnlstm.tasks.strategy.timing import month_days
from cnnlstm.tasks.training.networks import predict_lstm, score_cnn


class Selections(BaseModel):
    """The test months' CNN scores (with realized returns) and every strategy's selection."""

    model_config = ConfigDict(frozen=True)

    scores: ArtifactRef  # symbol, month, score, target_return
    cnn: ArtifactRef
    momentum: ArtifactRef
    universe: ArtifactRef


class Backtest(BaseModel):
    """The backtest's ledger and daily values of every strategy and the benchmark."""

    model_config = ConfigDict(frozen=True)

    trades: ArtifactRef
    nav: ArtifactRef
    notes: dict[str, int]
    sensitivity: dict[str, ArtifactRef] = Field(default_factory=dict)  # cost multiple -> nav
    texts: list[str] = Field(default_factory=list)  # what the cost sensitivity could not do
    nulls: ArtifactRef | None = None  # the null baselines' draws (null, draw, date, nav)
    equal_weight_needs: float | None = None  # capital the traded EW universe needs (lots)
    null_facts: dict[str, float] = Field(default_factory=dict)  # e.g. the LSTM's share of +1


class ReportFiles(BaseModel):
    """The report's files (Table 2, metrics.json, figures) and its headline numbers."""

    model_config = ConfigDict(frozen=True)

    files: dict[str, ArtifactRef]
    metrics: ArtifactRef
    markdown: str
    summary: str = ""  # the one-screen form: the console and the Prefect "Table 2" artifact


def months_in(features: pl.DataFrame, test: Period) -> pl.DataFrame:
    """Feature rows of months that start inside the test period."""
    return features.filter(pl.col("month").is_between(test.start.replace(day=1), test.end))


@stage_task("select", version=1)
def select(
    features: ArtifactRef, cnn: TrainedRef, cfg: SelectionConfig, test: Period
) -> Selections:
    """Score the test months with the CNN and pick the top fraction; momentum and universe too."""
    return _select(features, [cnn], cfg, test)


@stage_task("select_ensemble", version=1)
def select_ensemble(
    features: ArtifactRef, cnns: list[TrainedRef], cfg: SelectionConfig, test: Period
) -> Selections:
    """As `select`, on the CNN scores averaged over the seeds' networks (the seed ensemble)."""
    return _select(features, cnns, cfg, test)


def _select(
    features: ArtifactRef, cnns: list[TrainedRef], cfg: SelectionConfig, test: Period
) -> Selections:
    every = features.read_table()
    table = months_in(every, test)
    if table.height == 0:
        raise UserInputError(f"no eligible stock-months in the test period {test}")
    threads = runtime.choose_threads().threads  # the process's count, as the training's
    parts = [score_cnn(cnn.checkpoint.local_path(), table, threads=threads) for cnn in cnns]
    scores = validate_table(ensemble_scores(parts), ScoresSchema, table="scores").valid
    if cfg.momentum_window == "t-12..t-2":
        momentum = momentum_scores(table)
    else:  # month t-1's return comes from the row of t-1, which may precede the test
        momentum = momentum_scores(every, cfg.momentum_window).join(
            table.select("symbol", "month"), on=["symbol", "month"]
        )
        unranked = table.height - momentum.height
        if unranked:
            get_run_logger().info(
                f"momentum {cfg.momentum_window}: {unranked} stock-months without month t-1's "
                "return (not eligible in t-1) are not ranked"
            )
    momentum = validate_table(momentum, ScoresSchema, table="momentum scores").valid
    picks = {
        "cnn": select_top(scores, cfg),
        "momentum": select_top(momentum, cfg),
        "universe": universe_selection(scores),
    }
    for name, frame in picks.items():
        validate_table(frame, SelectionSchema, table=f"{name} selection")
    scored = scores.join(table.select("symbol", "month", "target_return"), on=["symbol", "month"])
    get_run_logger().info(
        f"selected {picks['cnn'].height} stock-months over {scores['month'].n_unique()} months"
    )
    return Selections(
        scores=write_table(scored, "select"),
        **{name: write_table(frame, "select") for name, frame in picks.items()},
    )


def decision_keys(selection: pl.DataFrame, calendar: list) -> pl.DataFrame:
    """(symbol, date) of every decision day of every selected stock-month.

    Month t's decisions are taken after the closes of its rebalance date through its
    second-to-last trading day (`tasks/strategy/timing.py`).
    """
    spans = month_days(calendar)
    rows = []
    for month, symbol in selection.select("month", "symbol").iter_rows():
        span = spans.get(month)
        if span is None or span.rebalance_date is None:
            continue
        rows += [(symbol, d) for d in (span.rebalance_date, *span.days[:-1])]
    return pl.DataFrame(rows, schema={"symbol": pl.Utf8, "date": pl.Date}, orient="row").unique(
        maintain_order=True
    )


@stage_task("signals", version=1)
def signals(
    dataset: Dataset,
    selections: Selections,
    lstm: TrainedRef,
    window: LstmWindowConfig,
    test: Period,
) -> ArtifactRef:
    """The LSTM's +1/-1 signal for each selected stock on each of its decision days."""
    return _signals(dataset, selections, [lstm], window, test)


@stage_task("signals_ensemble", version=1)
def signals_ensemble(
    dataset: Dataset,
    selections: Selections,
    lstms: list[TrainedRef],
    window: LstmWindowConfig,
    test: Period,
) -> ArtifactRef:
    """As `signals`, on P(up) averaged over the seeds' LSTMs (+1 when the mean is above 0.5)."""
    return _signals(dataset, selections, lstms, window, test)


def _signals(
    dataset: Dataset,
    selections: Selections,
    lstms: list[TrainedRef],
    window: LstmWindowConfig,
    test: Period,
) -> ArtifactRef:
    bars = dataset.bars.read_table().filter(pl.col("date") <= test.end)
    calendar = bars["date"].unique().sort().to_list()
    keys = decision_keys(selections.cnn.read_table(), calendar)
    windows = build_lstm_windows(bars, window, keys=keys, with_labels=False)
    if len(windows) == 0:
        raise UserInputError("no selected stock has a complete LSTM window on its decision days")
    threads = runtime.choose_threads().threads  # the process's count, as the training's
    parts = [predict_lstm(lstm.checkpoint.local_path(), windows, threads=threads) for lstm in lstms]
    table = parts[0]
    if len(parts) > 1:
        prob = sum(p["prob_up"] for p in parts) / len(parts)
        table = table.with_columns(
            prob_up=prob, signal=pl.when(prob > 0.5).then(1).otherwise(-1).cast(pl.Int8)
        )
    table = validate_table(table, SignalsSchema, table="signals").valid
    skipped = windows.skipped.height
    get_run_logger().info(f"signals: {table.height} (no complete window for {skipped} decisions)")
    return write_table(table, "signals", meta={"requested": keys.height, "skipped": skipped})


def scaled_costs(market: MarketConfig, multiplier: float) -> tuple[MarketConfig, str | None]:
    """`market` with every cost multiplied by `multiplier` (0 = gross), and a caveat if any.

    The seam for cost sensitivity: a `cost_multiplier` field of `MarketConfig` is used when it
    exists; otherwise the flat rates are scaled here. Stamp duty from the dated rule table
    (`stamp_duty_rate=None`) is set to 0 at 0x but cannot be scaled to other multiples.
    """
    if multiplier == 1.0:
        return market, None
    if "cost_multiplier" in type(market).model_fields:
        return market.model_copy(update={"cost_multiplier": multiplier}), None
    update = {
        "commission_rate": market.commission_rate * multiplier,
        "min_commission": market.min_commission * multiplier,
        "slippage_rate": market.slippage_rate * multiplier,
    }
    note = None
    if market.stamp_duty_rate is not None:
        update["stamp_duty_rate"] = market.stamp_duty_rate * multiplier
    elif multiplier == 0.0:
        update["stamp_duty_rate"] = 0.0
    else:
        note = f"{multiplier:g}x costs: the rule table's dated stamp duty is kept at 1x"
    return MarketConfig(**{**market.model_dump(), **update}), note


@stage_task("backtest", version=6)  # 5: capacity as counts; 6: listing decides delisting
def backtest(
    dataset: Dataset,
    selections: Selections,
    signals: ArtifactRef,
    market: MarketConfig,
    protocol: Protocol,
    cost_multipliers: tuple[float, ...] = (),
    nulls: NullConfig | None = None,
) -> Backtest:
    """Backtest every strategy and the benchmark over the test period.

    The same orders are re-run at each of `cost_multipliers` times the market's costs (their
    daily values in `Backtest.sensitivity`, keyed by the multiplier as text). The null
    baselines (`tasks.strategy.nulls`) run their draws on the same market arrays and costs.
    """
    bars = dataset.bars.read_table()
    inputs = StrategySet(
        universe=selections.universe.read_table(),
        momentum=selections.momentum.read_table(),
        cnn=selections.cnn.read_table(),
        signals=signals.read_table(),
    )

    # the market arrays and orders are built once; each cost multiple re-simulates them
    prepared = prepare_strategies(
        bars,
        inputs,
        start=protocol.test.start,
        end=protocol.test.end,
        execution=protocol.execution,
        hold_days=protocol.hold_days,
        listing=None if dataset.listing is None else dataset.listing.read_table(),
    )
    benchmark = dataset.benchmark.read_table()

    def simulate(cfg: MarketConfig):
        return run_prepared(prepared, cfg, benchmark)

    run = simulate(market)
    trades = validate_table(run.result.trades, TradesSchema, table="trades").valid
    nav = validate_table(run.result.nav, NavSchema, table="nav").valid
    notes = {**run.notes, **{f"blocked.{k}": v for k, v in run.result.blocked.items()}}
    sensitivity, texts = {}, list(run.texts)  # the engine's rule, capacity and ruin caveats
    for mult in cost_multipliers:
        if mult == 1.0:
            continue
        cfg, note = scaled_costs(market, mult)
        texts += [note] if note else []
        other = validate_table(simulate(cfg).result.nav, NavSchema, table="nav").valid
        sensitivity[f"{mult:g}"] = write_table(other, "backtest")
    get_run_logger().info(f"backtest: {trades.height} trades, notes {notes}")
    drawn = _null_draws(prepared, inputs, market, protocol, nulls or NullConfig())
    return Backtest(
        trades=write_table(trades, "backtest"),
        nav=write_table(nav, "backtest"),
        notes={k: int(v) for k, v in notes.items()},
        sensitivity=sensitivity,
        texts=texts,
        nulls=write_table(drawn.nav, "backtest") if drawn.nav.height else None,
        null_facts=drawn.facts,
        equal_weight_needs=equal_weight_capital_needed(
            prepared.market,
            inputs.universe,
            market_rules(prepared.market, market),
        ),
    )


def _null_draws(prepared, inputs: StrategySet, market: MarketConfig, protocol: Protocol, cfg):
    """The CNN's random-selection and the LSTM's random-timing nulls over the test months."""
    first, end = protocol.test.start.replace(day=1), protocol.test.end

    def in_test(table: pl.DataFrame) -> pl.DataFrame:
        return table.filter((pl.col("month") >= first) & (pl.col("month") <= end))

    return run_nulls(
        prepared.market,
        market,
        cfg,
        selection=in_test(inputs.cnn),
        universe=in_test(inputs.universe),
        signals=inputs.signals,
        execution=protocol.execution,
        hold_days=protocol.hold_days,
    )


class SeedRun(BaseModel):
    """One seed's (or the seed ensemble's) networks, selection, signals and backtest."""

    model_config = ConfigDict(frozen=True)

    label: str  # the seed as text, or "ensemble"
    selections: Selections
    signals: ArtifactRef
    backtest: Backtest
    cnns: list[TrainedRef] = Field(default_factory=list)
    lstms: list[TrainedRef] = Field(default_factory=list)


class RunContext(BaseModel):
    """What the report knows about the run beyond its seeds (caveat facts, trials)."""

    model_config = ConfigDict(frozen=True)

    seeds: tuple[int, ...] = (0,)
    n_trials: int = 1
    rows_quarantined: int = 0
    rows_total: int = 0


#: Training metrics that measure the machine's speed, not the model (MLflow keeps them).
WALL_CLOCK_METRICS = frozenset({"fit_seconds", "train_samples_per_s"})


def _reproducible(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k not in WALL_CLOCK_METRICS}


@dataclass(frozen=True)
class _Shared:
    """What every seed's report shares: the market arrays and the EW universe indexes."""

    arrays: MarketArrays  # of the test period
    index: pl.DataFrame  # the EW universe index, rebalanced daily (nav rows)
    monthly: pl.DataFrame  # the same, rebalanced monthly (nav rows)


def _shared(bars: pl.DataFrame, first: SeedRun, protocol: Protocol) -> _Shared:
    from cnnlstm.tasks.backtest import market_arrays

    start = first.backtest.nav.read_table()["date"].min()
    arrays = market_arrays(bars, start=start, end=protocol.test.end)
    dates = arrays.dates
    index = benchmark_nav(
        equal_weight_index(bars, start=dates[0], end=dates[-1]), dates, name="ew_index"
    ).with_columns(strategy=pl.lit("ew_index"))
    monthly = monthly_index_nav(bars, first.selections.universe.read_table(), dates)
    return _Shared(arrays=arrays, index=index, monthly=monthly)


def _seed_inputs(
    run: SeedRun,
    shared: _Shared,
    dataset: Dataset,
    protocol: Protocol,
    market: MarketConfig,
    n_trials: int,
) -> ReportInputs:
    """One seed's (or the ensemble's) report inputs from its artifacts."""
    outcomes = signal_outcomes(
        run.signals.read_table(),
        shared.arrays,
        horizon=protocol.hold_days,
        execution=protocol.execution,
    )
    return ReportInputs(
        nav=run.backtest.nav.read_table(),
        trades=run.backtest.trades.read_table(),
        capital=market.initial_capital,
        benchmark_label=dataset.benchmark_name,
        benchmark_derived=dataset.benchmark_derived,
        cnn_scored=run.selections.scores.read_table(),
        cnn_selection=run.selections.cnn.read_table(),
        signal_outcomes=outcomes,
        cost_navs={k: ref.read_table() for k, ref in run.backtest.sensitivity.items()},
        index_nav=shared.index,
        n_trials=n_trials,
        training={  # wall-clock facts stay in MLflow: metrics.json is reproducible
            "cnn": [_reproducible(n.metrics) for n in run.cnns],
            "lstm": [_reproducible(n.metrics) for n in run.lstms],
        },
        min_commission=market.min_commission,
        commission_rate=market.commission_rate,
        null_nav=run.backtest.nulls.read_table() if run.backtest.nulls else None,
        null_facts=dict(run.backtest.null_facts),
        monthly_index_nav=shared.monthly,
        equal_weight_needs=run.backtest.equal_weight_needs,
    )


def benchmark_gaps(dataset: Dataset, dates: list) -> int | None:
    """Test sessions without a benchmark close: the validate stage's count, else counted here.

    None for a derived benchmark (it has every session by construction).
    """
    if dataset.benchmark_coverage is not None:
        return int(dataset.benchmark_coverage.missing_sessions)
    if dataset.benchmark_derived:
        return None
    have = set(dataset.benchmark.read_table()["date"].to_list())
    return sum(d not in have for d in dates)


def _write_files(built: Report, runs: list[SeedRun], title: str) -> dict[str, ArtifactRef]:
    """Table 2, metrics.json, seeds.csv, the figures and the tear sheet, stored."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_report(built, runs[0].backtest.nav.read_table(), Path(tmp))
        paths["seeds"] = Path(tmp) / "seeds.csv"
        seeds_table(built.metrics).write_csv(paths["seeds"])
        paths["tear_sheet"] = Path(tmp) / "report.html"
        navs = {r.label: r.backtest.nav.read_table() for r in runs}
        paths["tear_sheet"].write_text(
            tear_sheet_html(built.metrics, built.markdown, built.summary, navs, title=title),
            encoding="utf-8",
        )
        return {
            name: store_file(path, "report", meta={"name": path.name})
            for name, path in paths.items()
        }


@stage_task("report", version=10)
def report(
    dataset: Dataset,
    runs: list[SeedRun],
    ensemble: SeedRun | None,
    protocol: Protocol,
    market: MarketConfig,
    cfg: ReportConfig,
    context: RunContext,
) -> ReportFiles:
    """Table 2 over the seeds, the per-seed table, metrics.json, the figures and the tear sheet.

    The signals' outcomes are measured over the protocol's hold days from its execution price;
    the PNG figures show the first seed, the tear sheet (`report.html`) every seed's band.
    """
    shared = _shared(dataset.bars.read_table(), runs[0], protocol)

    def one(run: SeedRun, n_trials: int):
        return build_report(_seed_inputs(run, shared, dataset, protocol, market, n_trials), cfg)

    per_seed = {run.label: one(run, context.n_trials) for run in runs}
    ens = one(ensemble, context.n_trials + 1) if ensemble is not None else None
    facts = RunFacts(
        seeds=tuple(context.seeds),
        rows_quarantined=context.rows_quarantined,
        rows_total=context.rows_total,
        benchmark_gaps=benchmark_gaps(dataset, shared.arrays.dates),
        benchmark_derived=dataset.benchmark_derived,
        survivorship_biased=cfg.survivorship_caveat,
        universe=dataset.universe_coverage,
    )
    table = notes_table(
        {r.label: r.backtest.notes for r in runs}, {r.label: r.backtest.texts for r in runs}
    )
    built = combine(per_seed, ens, facts, cfg, notes_table=table)
    return ReportFiles(
        files=_write_files(built, runs, cfg.title),
        metrics=write_json(json.loads(dump_metrics(built.metrics)), "report"),
        markdown=built.markdown,
        summary=built.summary,
    )
