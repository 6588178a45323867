"""The paper book's session step: yesterday's orders filled, today's NAV, the next orders' sizes.

Yesterday's orders are filled against today's bars by the backtest kernel (`book.replay`), from
the selections and decisions the dataset's live flows published (`files`); the session's NAV,
P&L, positions (real shares and lots), fills (real shares at real prices), the next session's
orders (sized by the kernel's preview of that session at today's close) and the
reconciliation (cash + positions = NAV, and every earlier stored NAV equal to the replay's) are
computed first (`prepare_book`, nothing written) and stored by the daily timing's commit
(`commit.commit_session`) in one transaction with the session's other files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
from pydantic import BaseModel, ConfigDict

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.sessions import SessionCalendar
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.live import files
from cnnlstm.tasks.live.book import BookDay, book_day, replay
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


@dataclass(frozen=True)
class BookDraft:
    """A session's book, computed but not stored; `planned` sizes the next session's orders."""

    day: BookDay
    planned: pl.DataFrame


@dataclass(frozen=True)
class BookInputs:
    """What a session's book replays: the market, the rules, and the stored book's first day."""

    cal: SessionCalendar
    bars: pl.DataFrame
    market: MarketConfig
    hold_days: int
    execution: str
    first_day: date | None  # the stored book's first session (None: an empty book)
    stored_navs: pl.DataFrame  # every stored day's values (`BookStore.navs`)


def _published(
    dataset: str, day: date, first_month: date, first_session: date, decided: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(selections, decisions) the replay needs: the published ones plus today's own."""
    selections = files.read_all(dataset, "selection-*.parquet", files.SELECTION_KEYS)
    selections = selections.filter(pl.col("month") >= first_month).select("month", "symbol")
    earlier = files.read_all(dataset, "signals-*.parquet", files.SIGNALS_SCHEMA).filter(
        (pl.col("date") >= first_session) & (pl.col("date") < day)
    )
    decisions = pl.concat([earlier.select(decided.columns), decided], how="vertical_relaxed")
    return selections, decisions


def prepare_book(
    inputs: BookInputs, day: date, decided: pl.DataFrame, dataset: str, *, rebuild: bool = False
) -> BookDraft:
    """Fill, value and reconcile the book for session `day` (nothing is written).

    `decided` is the session's own decisions (not yet published); the earlier ones and the
    selections come from the dataset's live folder. The replay previews the next session at
    today's close, so the next orders are sized by the kernel itself, in real shares.

    Raises:
        BookDriftError: a stored NAV differs from the replay's (without `rebuild`).
    """
    cal, market = inputs.cal, inputs.market
    first = min(inputs.first_day or day, day)  # a rebuild may start before the book's first day
    first_month = decision_month(first, cal.month_last_session(first))
    first_session = cal.previous_session(first_month) if first_month <= day else first
    selections, decisions = _published(dataset, day, first_month, first_session, decided)
    trade_date = cal.next_session(day)
    later = cal.sessions(trade_date, cal.month_last_session(trade_date))
    run = replay(
        inputs.bars.filter(pl.col("date") <= day), selections, decisions, market,
        first_session=first_session, today=day, later_sessions=later,
        execution=inputs.execution, hold_days=inputs.hold_days, preview=True,
    )  # fmt: skip
    if not rebuild:
        check_drift(inputs.stored_navs, run.nav, day, market)
    lot = market.lot_size or (100 if market.name == "cn" else 1)  # A-share board lots: 100
    assert run.planned is not None  # preview=True with the next session padded
    return BookDraft(day=book_day(run, day, lot), planned=run.planned)


def check_drift(stored: pl.DataFrame, nav: pl.DataFrame, day: date, market: MarketConfig) -> None:
    """Refuse a replay whose NAV of an earlier stored day differs from the stored one.

    Raises:
        BookDriftError: naming the first differing day and both values.
    """
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


def book_outcome(today: BookDay, url: str, dropped: list[date]) -> BookOutcome:
    """The stored session as the flow reports it (`url` without its password)."""
    return BookOutcome(
        day=today.day,
        url=url,
        nav=today.nav,
        pnl=today.pnl,
        cash=today.cash,
        position_value=today.position_value,
        reconciled=today.reconciles,
        fills=len(today.fills),
        positions=len(today.positions),
        dropped_days=dropped,
    )
