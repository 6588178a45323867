"""The daily timing flow: after a session's close, the LSTM's decisions and the next orders.

Input contract: `DailyParams` (a form in the Prefect UI) and the selection the monthly flow
published for the decision month (`live/selection-YYYY-MM.parquet`). Steps:

1. a day that is not a session of the exchange calendar is a green no-op naming the holiday;
2. the session must be complete (close + data delay) and the data must reach it, else red;
3. the champion LSTM of the data's dataset (refused if trained on another) and its run's
   window, hold days and execution (the flow's own values, if given, must match);
4. today's signal for each selected stock from the window ending today, appended to the decision
   month's history (`tasks.live.orders.record_decisions`; a re-run of the day replaces it, an
   earlier day refuses unless `rebuild`);
5. the next session's orders (`tasks.live.orders.next_session_orders`):
   `live/orders-YYYY-MM-DD.parquet`, a Prefect table artifact and the typed outcome;
6. the paper book (`flows/book.py`): the previous orders filled against today's bars by the
   backtest kernel, NAV, P&L, positions and reconciliation stored in one transaction.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Literal

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.book import BookOutcome, book_session
from cnnlstm.flows.live import (
    LineageError,
    LiveParams,
    NoSession,
    agree,
    champion,
    champion_checkpoint,
    live_dir,
    orders_path,
    read_state,
    require_closed,
    require_fresh,
    selection_path,
    settings_from_run,
    signals_path,
    state_lock,
    write_atomic,
    write_state,
)
from cnnlstm.flows.ops import TIMEOUTS, live_ingest, run_namer
from cnnlstm.flows.stages.cache import StageRunner
from cnnlstm.flows.stages.data import bars_as_of, input_fingerprint
from cnnlstm.flows.stages.publish import publish_table
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.features import LstmWindowConfig, build_lstm_windows
from cnnlstm.tasks.live.orders import (
    TimingState,
    decision_month,
    next_session_orders,
    record_decisions,
)
from cnnlstm.tasks.training.networks import predict_lstm


class DailyParams(LiveParams):
    """What the daily timing takes (window and hold days come from the champion's run)."""

    window: int | None = Field(
        None, ge=2, description="LSTM window; none: the champion's (a value must match it)"
    )
    hold_days: int | None = Field(
        None, ge=1, le=60, description="held days a +1 sets; none: the champion's (must match)"
    )
    capital: float | None = Field(
        None, gt=0, description="capital to size orders in shares and lots (none: weights only)"
    )
    rebuild: bool = Field(
        False, description="allow a day before the state's last day (drops the later days)"
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
    book: BookOutcome | None = None


def _state_from_file() -> TimingState:
    raw = read_state()
    if not raw or "month" not in raw:
        return TimingState()
    return TimingState.model_validate(raw)


@flow(
    name="daily_timing",
    description="Turn the session's LSTM signals into the next session's orders.",
    flow_run_name=run_namer("daily-timing"),
    timeout_seconds=TIMEOUTS["daily_timing"],
)
def daily_timing_flow(params: DailyParams = DailyParams()) -> TimingOutcome:  # noqa: B008
    """Compute the session's signals and the next session's orders for the decision month."""
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

    month = decision_month(day, cal.month_last_session(day))
    lstm = champion("lstm", params)
    settings = settings_from_run(lstm.params, lstm.run_id)
    window = agree("window", params.window, settings.window, lstm)
    hold_days = agree("hold_days", params.hold_days, settings.hold_days, lstm)
    if settings.execution != "open":
        raise LineageError(
            f"{lstm.name} v{lstm.version} was trained for execution={settings.execution!r}: a "
            "flow run after the close can only trade at the next open (execution='open')"
        )
    path = selection_path(month)
    if not path.exists():
        raise UserInputError(
            f"no selection published for {month:%Y-%m} ({path}): run monthly_selection first"
        )
    symbols = pl.read_parquet(path)["symbol"].to_list()
    keys = pl.DataFrame({"symbol": symbols, "date": [day] * len(symbols)})
    wanted = {"window": window, "horizon": hold_days, "execution": "open"}
    cfg = LstmWindowConfig(
        **{k: v for k, v in wanted.items() if k in LstmWindowConfig.model_fields}
    )
    windows = build_lstm_windows(bars, cfg, keys=keys, with_labels=False)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = champion_checkpoint(lstm, "lstm", Path(tmp))
        signals = predict_lstm(checkpoint, windows) if len(windows) else None
    today = {} if signals is None else dict(signals.select("symbol", "signal").iter_rows())
    for row in windows.skipped.iter_rows(named=True):
        logger.info(f"{row['symbol']}: no signal today ({row['reason']}); counted as -1")

    trade_date = cal.next_session(day)
    closes = dict(bars.filter(pl.col("date") == day).select("symbol", "close").iter_rows())
    with state_lock():
        state, dropped = record_decisions(
            _state_from_file(),
            month=month,
            day=day,
            symbols=symbols,
            signals=today,
            rebuild=params.rebuild,
        )
        orders = next_session_orders(
            symbols,
            state.history,
            trade_date=trade_date,
            hold_days=hold_days,
            month_last=cal.is_month_last_session(trade_date),
            closes=closes,
            capital=params.capital,
            market=MarketConfig.preset(params.market),
        )
        write_state(state.model_dump_json(indent=1))
        for later in dropped:  # a rebuild withdraws the orders of the dropped days
            orders_path(later).unlink(missing_ok=True)
        for later in dropped:
            signals_path(later).unlink(missing_ok=True)
        decided = pl.DataFrame(  # the LSTM's own decisions (a missing window is not one)
            {"symbol": list(today), "date": [day] * len(today), "signal": list(today.values())},
            schema={"symbol": pl.String, "date": pl.Date, "signal": pl.Int8},
        )
        write_atomic(decided, signals_path(day))
        write_atomic(orders, orders_path(day))
        book = None
        if params.book:  # yesterday's orders filled against today's bars, by the backtest
            book = book_session(
                cal=cal, day=day, bars=bars, orders=orders,
                market=MarketConfig.preset(params.market), hold_days=hold_days,
                execution=settings.execution, url=params.book_url, rebuild=params.rebuild,
            )  # fmt: skip
    publish_table(
        orders, "daily-orders", f"Orders for {trade_date} after the close of {day} "
        f"(LSTM {lstm.name} v{lstm.version})"
    )  # fmt: skip
    logger.info(f"{day}: {orders.height} orders for {trade_date} ({len(symbols)} selected stocks)")
    return TimingOutcome(
        day=day,
        status="orders",
        decision_month=month,
        trade_date=trade_date,
        model=f"{lstm.name} v{lstm.version}",
        signals={s: int(v) for s, v in today.items()},
        orders=orders.to_dicts(),
        dropped_days=dropped,
        book=book,
    )


__all__ = ["DailyParams", "TimingOutcome", "daily_timing_flow", "live_dir"]
