"""The live flows' stages: the champion, signals, decisions, orders, book, commit, the month's.

The daily timing chains the champion, today's signals, decisions, order sizing, the book
session and the commit; the monthly selection the champion (or a retraining registered once),
the month's scoring, selection and publication.

Two kinds. Cached stages (`stage_task`) are pure functions of their arguments: references
(path + fingerprint) to the bars, features and checkpoint, and small typed values; their
results are JSON (`flows.stages.cache`), so a re-run of a session or a month with the same
bars and model takes them from the cache. Live steps (`live_step`) read or write state their
arguments do not name (the model registry, the live folder, the paper book, the MLflow run):
they are Prefect tasks too (seen in the UI, timed by `StageRunner`) but never cached.
The logic is in `tasks.live` and `infra.champion`; these wrappers only read and write.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import polars as pl
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.redact import redact_url
from cnnlstm.core.sessions import SessionCalendar
from cnnlstm.flows.stages.cache import stage_task
from cnnlstm.flows.stages.publish import publish_table
from cnnlstm.flows.stages.training import TrainedRef
from cnnlstm.infra import tracking
from cnnlstm.infra.artifacts import ArtifactRef, store_file, write_table
from cnnlstm.infra.champion import (
    Champion,
    ChampionQuery,
    LiveSettings,
    champion_age_days,
    champion_checkpoint,
    find_champion,
    settings_from_run,
)
from cnnlstm.schemas.live import OrdersSchema
from cnnlstm.schemas.strategy import ScoresSchema, SelectionSchema
from cnnlstm.schemas.validation import validate_table
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.live import files
from cnnlstm.tasks.live.book import BookDay
from cnnlstm.tasks.live.book_session import BookInputs, BookOutcome, book_outcome, prepare_book
from cnnlstm.tasks.live.book_store import BookStore
from cnnlstm.tasks.live.commit import commit_session
from cnnlstm.tasks.live.monitor import MonthQuality, month_quality
from cnnlstm.tasks.live.orders import (
    TimingState,
    next_session_orders,
    real_closes,
    record_decisions,
    with_planned_shares,
)
from cnnlstm.tasks.live.sessions import months_to_publish
from cnnlstm.tasks.live.signals import SessionSignals, session_signals
from cnnlstm.tasks.strategy.select import SelectionConfig, select_top
from cnnlstm.tasks.training.networks import score_cnn

R = TypeVar("R")


def live_step(name: str) -> Callable[[Callable[..., R]], Task[..., R]]:
    """An uncached Prefect task: it reads or writes state outside its arguments."""
    return task(name=name, cache_policy=NO_CACHE, persist_result=False)


# --- the champion ------------------------------------------------------------------------------


class ChampionFound(BaseModel):
    """The champion of one network and the live settings its run was trained with."""

    model_config = ConfigDict(frozen=True)

    champion: Champion
    settings: LiveSettings


@live_step("live_champion")
def live_champion(query: ChampionQuery) -> ChampionFound:
    """The champion (refused if none or of another dataset) and its run's settings."""
    found = find_champion(query)
    return ChampionFound(champion=found, settings=settings_from_run(found.params, found.run_id))


@live_step("live_checkpoint")
def live_checkpoint(found: Champion, network: str) -> ArtifactRef:
    """The champion run's checkpoint of `network`, stored as a content-addressed artifact."""
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = champion_checkpoint(found, network, Path(tmp))
        return store_file(checkpoint, f"champion_{network}", kind="checkpoint")


@live_step("champion_age")
def champion_age(query: ChampionQuery) -> float | None:
    """Days since the champion was registered (None: no champion)."""
    return champion_age_days(query)


@live_step("register_network")
def register_network(trained: TrainedRef, registered_name: str, tags: dict[str, str]) -> str:
    """Register a trained network once (`tracking.register_checkpoint`); returns its label.

    Needs an active MLflow run; the checkpoint is logged to it too. The version is a
    challenger, never promoted here.
    """
    checkpoint = trained.checkpoint.local_path()
    tracking.log_files([checkpoint], f"checkpoints/{trained.network}")
    registered = tracking.register_checkpoint(trained.checkpoint, registered_name, tags=tags)
    return f"{registered.name} v{registered.version}"


# --- one session of the daily timing -----------------------------------------------------------


class SessionInputs(BaseModel):
    """What the live folder holds for a session: the month's selection and the timing state."""

    model_config = ConfigDict(frozen=True)

    symbols: list[str]
    state: TimingState


@live_step("live_state")
def live_state(dataset: str) -> TimingState:
    """The daily timing state as the live folder holds it (an empty one before the first run)."""
    return files.timing_state(dataset)


@live_step("session_inputs")
def session_inputs(dataset: str, month: date) -> SessionInputs:
    """The decision month's published selection and the current timing state."""
    symbols = files.selected_symbols(dataset, month)
    return SessionInputs(symbols=symbols, state=files.timing_state(dataset))


@stage_task("live_signals", version=1)
def live_signals(
    bars: ArtifactRef,
    checkpoint: ArtifactRef,
    day: date,
    symbols: list[str],
    window: int,
    hold_days: int,
) -> SessionSignals:
    """Each selected stock's LSTM decision from the window ending at `day`'s close."""
    out = session_signals(
        bars.read_table(), checkpoint.local_path(), day, symbols, window=window,
        hold_days=hold_days,
    )  # fmt: skip
    for symbol, reason in out.skipped.items():
        get_run_logger().info(f"{symbol}: no signal on {day} ({reason}); -1")
    return out


class Decisions(BaseModel):
    """The timing state after a session's decisions, and the later days a rebuild dropped."""

    model_config = ConfigDict(frozen=True)

    state: TimingState
    dropped: list[date] = Field(default_factory=list)


@stage_task("live_decisions", version=1)
def live_decisions(
    state: TimingState, month: date, signals: SessionSignals, symbols: list[str], rebuild: bool
) -> Decisions:
    """Append the session's decisions to the month's history (`orders.record_decisions`)."""
    new, dropped = record_decisions(
        state, month=month, day=signals.day, symbols=symbols, signals=signals.signals,
        rebuild=rebuild,
    )  # fmt: skip
    return Decisions(state=new, dropped=dropped)


class OrderPlan(BaseModel):
    """What sizes a session's orders: the selection, its history, the next session, capital."""

    model_config = ConfigDict(frozen=True)

    day: date
    trade_date: date
    month_last: bool  # the trade date is the month's last session
    symbols: list[str]
    history: dict[str, list[int]]
    hold_days: int
    capital: float | None
    market: str


@stage_task("live_orders", version=1)
def live_orders(bars: ArtifactRef, plan: OrderPlan) -> ArtifactRef:
    """The next session's orders, buys sized from `capital` at the session's real close."""
    orders = next_session_orders(
        plan.symbols, plan.history, trade_date=plan.trade_date, hold_days=plan.hold_days,
        month_last=plan.month_last, closes=real_closes(bars.read_table(), plan.day),
        capital=plan.capital, market=MarketConfig.preset(plan.market),
    )  # fmt: skip
    return write_table(_orders_table(orders), "live_orders")


def _orders_table(orders: pl.DataFrame) -> pl.DataFrame:
    """The orders checked against their contract before they cross a stage boundary."""
    return validate_table(orders, OrdersSchema, table="orders").valid


class BookRef(BaseModel):
    """Which paper book a session writes: its URL (None: the default) and dataset."""

    model_config = ConfigDict(frozen=True)

    url: str | None
    dataset: str

    def open(self) -> BookStore:
        """The book's store (its tables are created on first use)."""
        return BookStore(self.url, self.dataset)


class BookSession(BaseModel):
    """A session's book, computed but not stored, and the orders the kernel sized."""

    model_config = ConfigDict(frozen=True)

    day: BookDay
    orders: ArtifactRef


@live_step("book_session")
def book_session(
    bars: ArtifactRef,
    cal: SessionCalendar,
    plan: OrderPlan,
    signals: SessionSignals,
    orders: ArtifactRef,
    book: BookRef,
    rebuild: bool,
) -> BookSession:
    """Yesterday's orders filled against today's bars; the next orders sized by the kernel."""
    store = book.open()
    inputs = BookInputs(
        cal=cal, bars=bars.read_table(), market=MarketConfig.preset(plan.market),
        hold_days=plan.hold_days, execution="open", first_day=store.first_day(),
        stored_navs=store.navs(),
    )  # fmt: skip
    draft = prepare_book(inputs, plan.day, signals.decided(), book.dataset, rebuild=rebuild)
    sized = with_planned_shares(orders.read_table(), draft.planned)
    return BookSession(day=draft.day, orders=write_table(_orders_table(sized), "live_orders"))


@live_step("commit_session")
def commit_live_session(
    dataset: str,
    signals: SessionSignals,
    orders: ArtifactRef,
    decisions: Decisions,
    book: tuple[BookRef, BookSession] | None,
    rebuild: bool,
) -> BookOutcome | None:
    """Store the session as one (`tasks.live.commit`); publish the book's tables."""
    store = None if book is None else book[0].open()
    dropped = commit_session(
        dataset, signals.day, decided=signals.decided(), orders=orders.read_table(),
        state=decisions.state, dropped=decisions.dropped,
        book=None if book is None else (store, book[1].day), rebuild=rebuild,
    )  # fmt: skip
    if book is None:
        return None
    today = book[1].day
    summary = pl.DataFrame(
        [{"day": today.day, "nav": today.nav, "pnl": today.pnl, "cash": today.cash,
          "position_value": today.position_value, "reconciled": today.reconciles}]
    )  # fmt: skip
    publish_table(summary, "paper-book-nav", f"Paper book after the close of {today.day}")
    if today.fills:
        publish_table(pl.DataFrame(today.fills), "paper-book-fills", f"Fills of {today.day}")
    return book_outcome(today, redact_url(store.url), dropped)  # printed and stored: no password


# --- the month's selection ---------------------------------------------------------------------


class MonthPlan(BaseModel):
    """The months a selection run publishes, and the target's kept selection (if it is kept)."""

    model_config = ConfigDict(frozen=True)

    months: list[date]
    kept: list[str] | None = None
    kept_path: str = ""


@live_step("month_plan")
def month_plan(dataset: str, target: date, replace: bool) -> MonthPlan:
    """The target month and every missed month before it; a published target alone is kept."""
    months = months_to_publish(files.published_months(dataset), target, replace=replace)
    published = files.selection_path(dataset, target)
    if len(months) > 1 or replace or not published.exists():
        return MonthPlan(months=months)
    kept = pl.read_parquet(published)["symbol"].to_list()
    return MonthPlan(months=months, kept=kept, kept_path=str(published))


@stage_task("live_scores", version=1)
def live_scores(features: ArtifactRef, checkpoint: ArtifactRef, month: date) -> ArtifactRef:
    """The CNN's score of every eligible stock of `month` (point in time: its own features)."""
    current = features.read_table().filter(pl.col("month") == month)
    if current.height == 0:
        raise UserInputError(
            f"no CNN features for {month:%Y-%m} (features end "
            f"{features.read_table()['month'].max()}): too few eligible stocks?"
        )
    scores = score_cnn(checkpoint.local_path(), current)
    return write_table(validate_table(scores, ScoresSchema, table="scores").valid, "live_scores")


@stage_task("live_selection", version=1)
def live_selection(scores: ArtifactRef, cfg: SelectionConfig) -> ArtifactRef:
    """The month's top stocks by score (`strategy.select.select_top`)."""
    picked = select_top(scores.read_table(), cfg)
    table = validate_table(picked, SelectionSchema, table="selection").valid
    return write_table(table, "live_selection")


@live_step("publish_month")
def publish_month(dataset: str, month: date, scores: ArtifactRef, selection: ArtifactRef) -> str:
    """Log the month's selection to the MLflow run; write its scores, then its selection."""
    table = selection.read_table()
    tracking.log_frame(table, f"selection/{month:%Y-%m}.csv")
    files.write_atomic(scores.read_table(), files.scores_path(dataset, month))
    return str(files.write_atomic(table, files.selection_path(dataset, month)))


# --- the monitor -------------------------------------------------------------------------------


@live_step("monitored_months")
def monitored_months(
    dataset: str, cal: SessionCalendar, bars: ArtifactRef, settings: LiveSettings, done: date
) -> list[MonthQuality]:
    """The realized quality of every published month whose last session closed by `done`."""
    table = bars.read_table()
    signals = files.read_all(dataset, "signals-*.parquet", files.SIGNALS_SCHEMA)
    months = []
    for month, path in files.published_scores(dataset):
        if month > done or cal.month_last_session(month) > done:
            continue  # labels not known yet
        months.append(
            month_quality(
                month, pl.read_parquet(path), table, signals,
                rebalance=cal.previous_session(month), month_last=cal.month_last_session(month),
                hold_days=settings.hold_days, execution=settings.execution,
            )
        )  # fmt: skip
    return months
