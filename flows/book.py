"""The paper book's session step, run by the daily timing flow after the close.

Yesterday's orders are filled against today's bars by the backtest kernel (`tasks.live.book`),
from the selections and decisions the dataset's live flows published; the session's NAV, P&L,
positions (real shares and lots), fills (real shares at real prices), the next session's orders
(sized by the kernel's preview of that session at today's close) and the reconciliation (cash +
positions = NAV, and every earlier stored NAV equal to the replay's) are computed first
(`prepare_book`) and stored by the daily flow in one transaction (`tasks.live.book_store`)
together with the session's other state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.redact import redact_url
from cnnlstm.core.sessions import SessionCalendar
from cnnlstm.flows.live import live_dir
from cnnlstm.flows.stages.publish import publish_table
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.live.book import BookDay, book_day, replay
from cnnlstm.tasks.live.book_store import BookStore
from cnnlstm.tasks.live.orders import decision_month


class BookDriftError(UserInputError):
    """A replay no longer gives the NAV the book stored for an earlier day (restated bars?)."""


class BookOutcome(BaseModel):
    """The book after the session."""

    model_config = ConfigDict(frozen=True)

    day: date
    url: str
    nav: float
    pnl: float
    cash: float
    position_value: float
    reconciled: bool
    fills: int
    positions: int
    dropped_days: list[date]


def _read_all(folder: Path, pattern: str, schema: dict) -> pl.DataFrame:
    files = sorted(folder.glob(pattern))
    if not files:
        return pl.DataFrame(schema=schema)
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


@dataclass(frozen=True)
class BookDraft:
    """A session's book, computed but not stored; `planned` sizes the next session's orders."""

    day: BookDay
    planned: pl.DataFrame


def prepare_book(
    *,
    cal: SessionCalendar,
    day: date,
    bars: pl.DataFrame,
    decided: pl.DataFrame,
    dataset: str,
    store: BookStore,
    market: MarketConfig,
    hold_days: int,
    execution: str,
    rebuild: bool = False,
) -> BookDraft:
    """Fill, value and reconcile the book for session `day` (nothing is written).

    `decided` is the session's own decisions (not yet published); the earlier ones and the
    selections come from the dataset's live folder. The replay previews the next session at
    today's close, so the next orders are sized by the kernel itself, in real shares.

    Raises:
        BookDriftError: a stored NAV differs from the replay's (without `rebuild`).
    """
    folder = live_dir(dataset)
    first = min(store.first_day() or day, day)  # a rebuild may start before the book's first day
    first_month = decision_month(first, cal.month_last_session(first))
    first_session = cal.previous_session(first_month) if first_month <= day else first
    selections = _read_all(folder, "selection-*.parquet", {"month": pl.Date, "symbol": pl.String})
    selections = selections.filter(pl.col("month") >= first_month).select("month", "symbol")
    earlier = _read_all(
        folder, "signals-*.parquet", {"symbol": pl.String, "date": pl.Date, "signal": pl.Int8}
    ).filter((pl.col("date") >= first_session) & (pl.col("date") < day))
    decisions = pl.concat([earlier.select(decided.columns), decided], how="vertical_relaxed")
    trade_date = cal.next_session(day)
    later = cal.sessions(trade_date, cal.month_last_session(trade_date))
    run = replay(
        bars.filter(pl.col("date") <= day), selections, decisions, market,
        first_session=first_session, today=day, later_sessions=later, execution=execution,
        hold_days=hold_days, preview=True,
    )  # fmt: skip
    if not rebuild:
        _check_drift(store.navs(), run.nav, day, market)
    lot = market.lot_size or (100 if market.name == "cn" else 1)  # A-share board lots: 100
    assert run.planned is not None  # preview=True with the next session padded
    return BookDraft(day=book_day(run, day, lot), planned=run.planned)


def _check_drift(stored: pl.DataFrame, nav: pl.DataFrame, day: date, market: MarketConfig) -> None:
    if not stored.height:
        return
    earlier = stored.filter(pl.col("day") < day).join(
        nav.select(pl.col("date").alias("day"), pl.col("nav").alias("replayed")), on="day"
    )
    drift = earlier.filter(
        (pl.col("nav") - pl.col("replayed")).abs() > 1e-6 * market.initial_capital
    )
    if drift.height:
        first_bad = drift.row(0, named=True)
        raise BookDriftError(
            f"the book's stored NAV of {first_bad['day']} ({first_bad['nav']:.2f}) differs "
            f"from today's replay ({first_bad['replayed']:.2f}): the bars or decisions "
            "changed; re-run with rebuild=True from that day"
        )


def outcome_of(draft: BookDraft, store: BookStore, dropped: list[date]) -> BookOutcome:
    """The stored session as the flow reports it (and as Prefect table artifacts)."""
    today = draft.day
    summary = pl.DataFrame(
        [{"day": today.day, "nav": today.nav, "pnl": today.pnl, "cash": today.cash,
          "position_value": today.position_value, "reconciled": today.reconciles}]
    )  # fmt: skip
    publish_table(summary, "paper-book-nav", f"Paper book after the close of {today.day}")
    if today.fills:
        publish_table(pl.DataFrame(today.fills), "paper-book-fills", f"Fills of {today.day}")
    return BookOutcome(
        day=today.day,
        url=redact_url(store.url),  # the outcome is printed and stored: no password
        nav=today.nav,
        pnl=today.pnl,
        cash=today.cash,
        position_value=today.position_value,
        reconciled=today.reconciles,
        fills=len(today.fills),
        positions=len(today.positions),
        dropped_days=dropped,
    )
