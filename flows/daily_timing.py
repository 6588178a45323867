"""The daily timing flow: after a session's close, the LSTM's decisions and the next orders.

Input contract: `DailyParams` (a form in the Prefect UI) and the selections the monthly flow
published for the decision months (`live/<dataset>/selection-YYYY-MM.parquet`). Steps:

1. a day that is not a session of the exchange calendar is a green no-op naming the holiday;
2. the session must be complete (close + data delay) and the data must reach it, else red;
3. the champion LSTM of the data's dataset (none, or one trained on another dataset: red,
   naming what to run) and its run's window, hold days and execution (the flow's own values,
   if given, must match);
4. every session from the one after the state's last day through the target is processed in
   order (a catch-up: a missed session is made up before today), or with `catch_up=False` the
   run refuses, naming the missed sessions;
5. per session: each selected stock's signal from the window ending that day, appended to the
   decision month's history (`tasks.live.orders.record_decisions`; a re-run of the day replaces
   it, an earlier day refuses unless `rebuild`); the paper book (`flows/book.py`): the previous
   orders filled by the backtest kernel, NAV, P&L, positions; the next session's orders, sized
   by the kernel's preview at the session's close (real shares, whole lots);
6. the session is committed as one: its signals and orders are staged, the book's rows are
   written in one transaction, then the files are moved into place and the timing state (the
   last processed day) last. A failure before the state leaves the previous session's state as
   it was, and a re-run reproduces the session.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from prefect import flow
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core import files
from cnnlstm.core.errors import UserInputError
from cnnlstm.core.sessions import SessionCalendar
from cnnlstm.flows.book import BookDraft, BookOutcome, outcome_of, prepare_book
from cnnlstm.flows.live import (
    LineageError,
    LiveFirst,
    LiveParams,
    NoSession,
    agree,
    champion,
    champion_checkpoint,
    live_lock,
    orders_path,
    read_state,
    require_closed,
    require_fresh,
    selection_path,
    settings_from_run,
    signals_path,
    stage_file,
    state_path,
)
from cnnlstm.flows.ops import TIMEOUTS, live_ingest, run_namer
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import bars_as_of, input_fingerprint
from cnnlstm.flows.stages.publish import publish_table
from cnnlstm.tasks.backtest import MarketConfig, market_arrays
from cnnlstm.tasks.features import LstmWindowConfig, build_lstm_windows
from cnnlstm.tasks.live.book_store import BookStore
from cnnlstm.tasks.live.orders import (
    TimingState,
    decision_month,
    next_session_orders,
    record_decisions,
    with_planned_shares,
)
from cnnlstm.tasks.training.networks import predict_lstm


class DailyFirst(LiveFirst):
    """The daily timing's first fields: the day, then the capital orders are sized for."""

    capital: float | None = Field(
        None, gt=0, description="capital to size orders in shares and lots (none: weights only)"
    )


class DailyParams(LiveParams, DailyFirst):
    """What the daily timing takes (window and hold days come from the champion's run).

    The form: as-of, capital, the source (`data`), then the rest (`LiveParams`' docstring).
    """

    window: int | None = Field(
        None, ge=2, description="LSTM window; none: the champion's (a value must match it)"
    )
    hold_days: int | None = Field(
        None, ge=1, le=60, description="held days a +1 sets; none: the champion's (must match)"
    )
    rebuild: bool = Field(
        False, description="allow a day before the state's last day (drops the later days)"
    )
    catch_up: bool = Field(
        True, description="process missed sessions in order first (else: refuse, naming them)"
    )
    book: bool = Field(True, description="keep the paper-trading book (fills, NAV, positions)")
    book_url: str | None = Field(
        None, description="book database URL; none: CNNLSTM_BOOK_URL, else SQLite in the data home"
    )


class TimingOutcome(BaseModel):
    """What a daily timing run did."""

    model_config = ConfigDict(frozen=True)

    day: date
    status: Literal["orders", "no_session"]
    reason: str | None = None
    decision_month: date | None = None
    trade_date: date | None = None
    model: str | None = None
    signals: dict[str, int] = Field(default_factory=dict)
    orders: list[dict] = Field(default_factory=list)
    dropped_days: list[date] = Field(default_factory=list)
    processed: list[date] = Field(default_factory=list)
    book: BookOutcome | None = None


class MissedSessionsError(UserInputError):
    """Sessions between the state's last day and the target were not processed."""


def _state_from_file(dataset: str) -> TimingState:
    raw = read_state(dataset)
    if not raw or "month" not in raw:
        return TimingState()
    return TimingState.model_validate(raw)


def sessions_to_process(
    cal: SessionCalendar, last: date | None, target: date, *, catch_up: bool
) -> list[date]:
    """The sessions a run for `target` processes: those after `last` through `target`.

    Raises:
        MissedSessionsError: sessions were missed and `catch_up` is False.
    """
    if last is None or target <= last:
        return [target]
    pending = cal.sessions(cal.next_session(last), target)
    if len(pending) > 1 and not catch_up:
        missed = ", ".join(str(d) for d in pending[:-1])
        raise MissedSessionsError(
            f"the timing state ends {last}: sessions {missed} were never processed; run with "
            f"catch_up=True (the default) to process them in order before {target}"
        )
    return pending


@dataclass(frozen=True)
class _Context:
    """What every session of one run shares."""

    params: DailyParams
    cal: SessionCalendar
    bars: pl.DataFrame
    checkpoint: Path
    hold_days: int
    window: int
    market: MarketConfig
    dataset: str


def _signals(ctx: _Context, day: date, symbols: list[str]) -> dict[str, int]:
    """Each selected stock's LSTM decision from the window ending at `day`'s close."""
    keys = pl.DataFrame({"symbol": symbols, "date": [day] * len(symbols)})
    wanted = {"window": ctx.window, "horizon": ctx.hold_days, "execution": "open"}
    cfg = LstmWindowConfig(
        **{k: v for k, v in wanted.items() if k in LstmWindowConfig.model_fields}
    )
    known = ctx.bars.filter(pl.col("date") <= day)  # point in time: nothing after the close
    windows = build_lstm_windows(known, cfg, keys=keys, with_labels=False)
    signals = predict_lstm(ctx.checkpoint, windows) if len(windows) else None
    for row in windows.skipped.iter_rows(named=True):
        get_run_logger().info(f"{row['symbol']}: no signal on {day} ({row['reason']}); -1")
    return {} if signals is None else dict(signals.select("symbol", "signal").iter_rows())


def _selected(dataset: str, month: date) -> list[str]:
    path = selection_path(dataset, month)
    if not path.exists():
        raise UserInputError(
            f"no selection published for {month:%Y-%m} ({path}): run monthly_selection first"
        )
    return pl.read_parquet(path)["symbol"].to_list()


def _fallback_orders(
    ctx: _Context,
    day: date,
    symbols: list[str],
    history: dict[str, list[int]],
    trade_date: date,
) -> pl.DataFrame:
    """Orders without a book: buys sized from `capital` at the session's real close."""
    today = ctx.bars.filter(pl.col("date") == day)
    market = market_arrays(today) if today.height else None
    closes: dict[str, float] = {}
    if market is not None:
        factor = market.factor if market.factor is not None else np.ones_like(market.close)
        real = market.close[0] / factor[0]  # the real price an order is placed at
        closes = {s: float(p) for s, p in zip(market.symbols, real, strict=True)}
    return next_session_orders(
        symbols, history, trade_date=trade_date, hold_days=ctx.hold_days,
        month_last=ctx.cal.is_month_last_session(trade_date), closes=closes,
        capital=ctx.params.capital, market=ctx.market,
    )  # fmt: skip


def _session(ctx: _Context, day: date, store: BookStore | None) -> TimingOutcome:
    """Decide, book and commit one session (see the module docstring, steps 5 and 6)."""
    cal, params = ctx.cal, ctx.params
    month = decision_month(day, cal.month_last_session(day))
    symbols = _selected(ctx.dataset, month)
    today = _signals(ctx, day, symbols)
    trade_date = cal.next_session(day)
    state, dropped = record_decisions(
        _state_from_file(ctx.dataset), month=month, day=day, symbols=symbols, signals=today,
        rebuild=params.rebuild,
    )  # fmt: skip
    decided = pl.DataFrame(  # the LSTM's own decisions (a missing window is not one)
        {"symbol": list(today), "date": [day] * len(today), "signal": list(today.values())},
        schema={"symbol": pl.String, "date": pl.Date, "signal": pl.Int8},
    )
    orders = _fallback_orders(ctx, day, symbols, state.history, trade_date)
    draft = None
    if store is not None:  # yesterday's orders filled against today's bars, by the backtest
        draft = prepare_book(
            cal=cal, day=day, bars=ctx.bars, decided=decided, dataset=ctx.dataset, store=store,
            market=ctx.market, hold_days=ctx.hold_days, execution="open", rebuild=params.rebuild,
        )  # fmt: skip
        orders = with_planned_shares(orders, draft.planned)
    book = _commit(ctx, day, decided, orders, state, dropped, store, draft)
    return TimingOutcome(
        day=day, status="orders", decision_month=month, trade_date=trade_date,
        signals={s: int(v) for s, v in today.items()}, orders=orders.to_dicts(),
        dropped_days=dropped, book=book,
    )  # fmt: skip


def _commit(
    ctx: _Context,
    day: date,
    decided: pl.DataFrame,
    orders: pl.DataFrame,
    state: TimingState,
    dropped: list[date],
    store: BookStore | None,
    draft: BookDraft | None,
) -> BookOutcome | None:
    """Store one session as one: staged files, the book's transaction, files, then the state."""
    staged = [
        (stage_file(decided, signals_path(ctx.dataset, day)), signals_path(ctx.dataset, day)),
        (stage_file(orders, orders_path(ctx.dataset, day)), orders_path(ctx.dataset, day)),
        (stage_file(state.model_dump_json(indent=1), state_path(ctx.dataset)),
         state_path(ctx.dataset)),
    ]  # fmt: skip
    try:
        book_dropped = [] if store is None else store.write_day(
            draft.day, orders, rebuild=ctx.params.rebuild
        )  # fmt: skip
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for later in sorted(set(dropped) | set(book_dropped)):  # a rebuild withdraws later days
        orders_path(ctx.dataset, later).unlink(missing_ok=True)
        signals_path(ctx.dataset, later).unlink(missing_ok=True)
    for tmp, path in staged:  # the state last: it marks the session as processed
        files.commit(tmp, path)
    return None if store is None else outcome_of(draft, store, book_dropped)


@flow(
    name="daily_timing",
    description="Turn the session's LSTM signals into the next session's orders.",
    flow_run_name=run_namer("daily-timing"),
    timeout_seconds=TIMEOUTS["daily_timing"],
)
def daily_timing_flow(params: DailyParams = DailyParams()) -> TimingOutcome:  # noqa: B008
    """Process every session through the target: signals, book, the next session's orders."""
    params.require_source()  # never the simulator in production, never no source
    logger = get_run_logger()
    cal = params.calendar_of()
    day = params.day()
    if not cal.is_session(day):
        closed = NoSession(day=day, calendar=cal.name, reason=cal.closed_reason(day))
        logger.info(closed.message)
        return TimingOutcome(day=day, status="no_session", reason=closed.message)
    require_closed(cal, day, params)
    run = StageRunner()
    ingested = run(live_ingest(), params.data, input_fingerprint(params.data, today=day))
    bars = run(bars_as_of, ingested, day).read_table()
    last = bars["date"].max() if bars.height else None
    require_fresh(last, day, what=f"daily timing for {day}", source=params.data.source)
    lstm = champion("lstm", params)
    settings = settings_from_run(lstm.params, lstm.run_id)
    window = agree("window", params.window, settings.window, lstm)
    hold_days = agree("hold_days", params.hold_days, settings.hold_days, lstm)
    if settings.execution != "open":
        raise LineageError(
            f"{lstm.name} v{lstm.version} was trained for execution={settings.execution!r}: a "
            "flow run after the close can only trade at the next open (execution='open')"
        )
    dataset = params.dataset_key()
    with tempfile.TemporaryDirectory() as tmp, live_lock(dataset):
        ctx = _Context(
            params=params, cal=cal, bars=bars, window=window, hold_days=hold_days,
            checkpoint=champion_checkpoint(lstm, "lstm", Path(tmp)),
            market=MarketConfig.preset(params.market), dataset=dataset,
        )  # fmt: skip
        state = _state_from_file(dataset)
        pending = sessions_to_process(
            cal, state.days[-1] if state.days else None, day, catch_up=params.catch_up
        )
        store = BookStore(params.book_url, dataset) if params.book else None
        for session in pending:
            out = _session(ctx, session, store)
            logger.info(f"{session}: {len(out.orders)} orders for {out.trade_date}")
    orders = pl.DataFrame(out.orders)
    publish_table(
        orders, "daily-orders", f"Orders for {out.trade_date} after the close of {day} "
        f"(LSTM {lstm.name} v{lstm.version})"
    )  # fmt: skip
    return out.model_copy(update={"model": f"{lstm.name} v{lstm.version}", "processed": pending})


__all__ = ["DailyParams", "TimingOutcome", "daily_timing_flow", "sessions_to_process"]
