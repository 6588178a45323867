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
5. per session, a chain of stages (`flows.stages.live`): the month's selection and the timing
   state; each selected stock's signal from the window ending that day (cached); the decisions
   appended to the decision month's history (cached; `tasks.live.orders.record_decisions`: a
   re-run of the day replaces it, an earlier day refuses unless `rebuild`); the next session's
   orders sized at the session's real close (cached); the paper book (`tasks.live.book_session`):
   the previous orders filled by the backtest kernel, NAV, P&L, positions, and the next orders
   sized by the kernel's preview at the close (real shares, whole lots);
6. the session is committed as one (`tasks.live.commit`): its signals and orders are staged,
   the book's rows are written in one transaction, then the files are moved into place and the
   timing state (the last processed day) last. A failure before the state leaves the previous
   session's state as it was, and a re-run reproduces the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.sessions import SessionCalendar
from cnnlstm.flows.live import LiveFirst, LiveParams
from cnnlstm.flows.ops import TIMEOUTS, live_ingest, run_namer
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import bars_as_of, input_fingerprint
from cnnlstm.flows.stages.live import (
    BookRef,
    ChampionFound,
    OrderPlan,
    book_session,
    commit_live_session,
    live_champion,
    live_checkpoint,
    live_decisions,
    live_orders,
    live_signals,
    live_state,
    session_inputs,
)
from cnnlstm.flows.stages.publish import publish_table
from cnnlstm.infra.artifacts import ArtifactRef
from cnnlstm.infra.champion import agree, require_next_open
from cnnlstm.tasks.live.book_session import BookOutcome
from cnnlstm.tasks.live.files import live_lock
from cnnlstm.tasks.live.orders import decision_month
from cnnlstm.tasks.live.sessions import (
    MissedSessionsError,
    no_session,
    require_fresh,
    sessions_to_process,
)


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

    def timing_settings(self, lstm: ChampionFound) -> tuple[int, int]:
        """(window, hold days): the champion run's; the flow's own values must equal them.

        Raises:
            LineageError: a value differs, or the champion was not trained for the next open.
        """
        window = agree("window", self.window, lstm.settings.window, lstm.champion)
        hold_days = agree("hold_days", self.hold_days, lstm.settings.hold_days, lstm.champion)
        require_next_open(lstm.settings, lstm.champion)
        return window, hold_days


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
    stages: dict[str, str] = Field(default_factory=dict)  # each stage's end: Completed, Cached


@dataclass(frozen=True)
class _Run:
    """What every session of one run shares."""

    run: StageRunner
    params: DailyParams
    cal: SessionCalendar
    bars: ArtifactRef
    checkpoint: ArtifactRef
    window: int
    hold_days: int
    dataset: str
    book: BookRef | None


def _session(ctx: _Run, day: date) -> TimingOutcome:
    """One session's chain: inputs, signals, decisions, orders, book, commit."""
    run, cal, rebuild, tag = ctx.run, ctx.cal, ctx.params.rebuild, f" {day}"
    month = decision_month(day, cal.month_last_session(day))
    inputs = run(session_inputs, ctx.dataset, month, label=f"session_inputs{tag}")
    signals = run(
        live_signals, ctx.bars, ctx.checkpoint, day, inputs.symbols, ctx.window, ctx.hold_days,
        label=f"live_signals{tag}",
    )  # fmt: skip
    decisions = run(
        live_decisions, inputs.state, month, signals, inputs.symbols, rebuild,
        label=f"live_decisions{tag}",
    )  # fmt: skip
    trade_date = cal.next_session(day)
    plan = OrderPlan(
        day=day, trade_date=trade_date, month_last=cal.is_month_last_session(trade_date),
        symbols=inputs.symbols, history=decisions.state.history, hold_days=ctx.hold_days,
        capital=ctx.params.capital, market=ctx.params.market,
    )  # fmt: skip
    orders = run(live_orders, ctx.bars, plan, label=f"live_orders{tag}")
    book = None
    if ctx.book is not None:  # yesterday's orders filled against today's bars, by the backtest
        drafted = run(
            book_session, ctx.bars, cal, plan, signals, orders, ctx.book, rebuild,
            label=f"book_session{tag}",
        )  # fmt: skip
        orders, book = drafted.orders, (ctx.book, drafted)
    stored = run(
        commit_live_session, ctx.dataset, signals, orders, decisions, book, rebuild,
        label=f"commit_session{tag}",
    )  # fmt: skip
    return TimingOutcome(
        day=day, status="orders", decision_month=month, trade_date=trade_date,
        signals=signals.signals, orders=orders.read_table().to_dicts(),
        dropped_days=decisions.dropped, book=stored,
    )  # fmt: skip


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
    cal, day = params.calendar_of(), params.day()
    if (closed := no_session(cal, day)) is not None:
        logger.info(closed.message)
        return TimingOutcome(day=day, status="no_session", reason=closed.message)
    params.require_closed(cal, day)
    run = StageRunner()
    ingested = run(live_ingest(), params.data, input_fingerprint(params.data, today=day))
    bars = run(bars_as_of, ingested, day)
    last = date.fromisoformat(bars.meta["last"])
    require_fresh(last, day, what=f"daily timing for {day}", source=params.data.source)
    lstm = run(live_champion, params.champion_query("lstm"))
    window, hold_days = params.timing_settings(lstm)
    dataset = params.dataset_key()
    with live_lock(dataset):
        ctx = _Run(
            run=run, params=params, cal=cal, bars=bars, window=window, hold_days=hold_days,
            checkpoint=run(live_checkpoint, lstm.champion, "lstm"), dataset=dataset,
            book=BookRef(url=params.book_url, dataset=dataset) if params.book else None,
        )  # fmt: skip
        state = run(live_state, dataset)
        last_day = state.days[-1] if state.days else None
        pending = sessions_to_process(cal, last_day, day, catch_up=params.catch_up)
        for session in pending:
            out = _session(ctx, session)
            logger.info(f"{session}: {len(out.orders)} orders for {out.trade_date}")
    publish_table(
        pl.DataFrame(out.orders),
        "daily-orders",
        f"Orders for {out.trade_date} after the close of {day} (LSTM {lstm.champion.label})",
    )
    update = {"model": lstm.champion.label, "processed": pending, "stages": dict(run.states)}
    return out.model_copy(update=update)


__all__ = [
    "DailyParams",
    "MissedSessionsError",
    "TimingOutcome",
    "daily_timing_flow",
    "sessions_to_process",
]
