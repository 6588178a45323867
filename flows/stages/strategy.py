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

import tempfile
from pathlib import Path

import polars as pl
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.params import Period, Protocol
from cnnlstm.flows.stages.cache import stage_task
from cnnlstm.flows.stages.data import Dataset
from cnnlstm.flows.stages.training import TrainedRef
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
from cnnlstm.tasks.features import LstmWindowConfig, build_lstm_windows
from cnnlstm.tasks.report import ReportConfig, ReportInputs, build_report, write_report
from cnnlstm.tasks.report_metrics import signal_outcomes
from cnnlstm.tasks.select import SelectionConfig, momentum_scores, select_top, universe_selection
from cnnlstm.tasks.strategies import StrategySet, run_strategies
from cnnlstm.tasks.timing import month_days
from cnnlstm.tasks.train import predict_lstm, score_cnn


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


class ReportFiles(BaseModel):
    """The report's files (Table 2, metrics.json, figures) and its headline numbers."""

    model_config = ConfigDict(frozen=True)

    files: dict[str, ArtifactRef]
    metrics: ArtifactRef
    markdown: str


def months_in(features: pl.DataFrame, test: Period) -> pl.DataFrame:
    """Feature rows of months that start inside the test period."""
    return features.filter(pl.col("month").is_between(test.start.replace(day=1), test.end))


@stage_task("select", version=1)
def select(
    features: ArtifactRef, cnn: TrainedRef, cfg: SelectionConfig, test: Period
) -> Selections:
    """Score the test months with the CNN and pick the top fraction; momentum and universe too."""
    table = months_in(features.read_table(), test)
    if table.height == 0:
        raise UserInputError(f"no eligible stock-months in the test period {test}")
    scores = score_cnn(cnn.checkpoint.local_path(), table)
    scores = validate_table(scores, ScoresSchema, table="scores").valid
    momentum = validate_table(momentum_scores(table), ScoresSchema, table="momentum scores").valid
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
    second-to-last trading day (`tasks/timing.py`).
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
    bars = dataset.bars.read_table().filter(pl.col("date") <= test.end)
    calendar = bars["date"].unique().sort().to_list()
    keys = decision_keys(selections.cnn.read_table(), calendar)
    windows = build_lstm_windows(bars, window, keys=keys, with_labels=False)
    if len(windows) == 0:
        raise UserInputError("no selected stock has a complete LSTM window on its decision days")
    table = predict_lstm(lstm.checkpoint.local_path(), windows)
    table = validate_table(table, SignalsSchema, table="signals").valid
    skipped = windows.skipped.height
    get_run_logger().info(f"signals: {table.height} (no complete window for {skipped} decisions)")
    return write_table(table, "signals", meta={"requested": keys.height, "skipped": skipped})


@stage_task("backtest", version=1)
def backtest(
    dataset: Dataset,
    selections: Selections,
    signals: ArtifactRef,
    market: MarketConfig,
    protocol: Protocol,
) -> Backtest:
    """Backtest every strategy and the benchmark over the test period."""
    bars = dataset.bars.read_table()
    inputs = StrategySet(
        universe=selections.universe.read_table(),
        momentum=selections.momentum.read_table(),
        cnn=selections.cnn.read_table(),
        signals=signals.read_table(),
    )
    run = run_strategies(
        bars,
        inputs,
        market,
        start=protocol.test.start,
        end=protocol.test.end,
        benchmark=dataset.benchmark.read_table(),
        execution=protocol.execution,
        hold_days=protocol.hold_days,
    )
    trades = validate_table(run.result.trades, TradesSchema, table="trades").valid
    nav = validate_table(run.result.nav, NavSchema, table="nav").valid
    notes = {**run.notes, **{f"blocked.{k}": v for k, v in run.result.blocked.items()}}
    get_run_logger().info(f"backtest: {trades.height} trades, notes {notes}")
    return Backtest(
        trades=write_table(trades, "backtest"),
        nav=write_table(nav, "backtest"),
        notes={k: int(v) for k, v in notes.items()},
    )


@stage_task("report", version=2)
def report(
    dataset: Dataset,
    selections: Selections,
    signals: ArtifactRef,
    result: Backtest,
    protocol: Protocol,
    market: MarketConfig,
    cfg: ReportConfig,
) -> ReportFiles:
    """Table 2, metrics.json and the figures of the backtest.

    The signals' outcomes are measured over the protocol's hold days from its execution price.
    """
    from cnnlstm.tasks.backtest import market_arrays

    nav = result.nav.read_table()
    trades = result.trades.read_table()
    bars = dataset.bars.read_table()
    arrays = market_arrays(bars, start=nav["date"].min(), end=protocol.test.end)
    outcomes = signal_outcomes(
        signals.read_table(), arrays, horizon=protocol.hold_days, execution=protocol.execution
    )
    built = build_report(
        ReportInputs(
            nav=nav,
            trades=trades,
            capital=market.initial_capital,
            benchmark_label=dataset.benchmark_name,
            benchmark_derived=dataset.benchmark_derived,
            cnn_scored=selections.scores.read_table(),
            cnn_selection=selections.cnn.read_table(),
            signal_outcomes=outcomes,
            notes=[f"{k}: {v}" for k, v in result.notes.items() if v],
        ),
        cfg,
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_report(built, nav, Path(tmp))
        files = {
            name: store_file(path, "report", meta={"name": path.name})
            for name, path in paths.items()
        }
    return ReportFiles(
        files=files, metrics=write_json(built.metrics, "report"), markdown=built.markdown
    )
