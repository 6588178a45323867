"""The paper book's session step, run by the daily timing flow after the close.

Yesterday's orders are filled against today's bars by the backtest kernel (`tasks.live.book`), from
the selections and decisions the live flows published; the session's NAV, P&L, positions (in
lots), fills, the next session's orders and the reconciliation (cash + positions = NAV, and every
earlier stored NAV equal to the replay's) go to the book's database in one transaction
(`tasks.live.book_store`) and to Prefect table artifacts.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from pydantic import BaseModel, ConfigDict

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.redact import redact_url
from cnnlstm.core.sessions import SessionCalendar
from cnnlstm.flows.live import live_dir
from cnnlstm.flows.stages.publish import publish_table
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.live.book import book_day, replay
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


def _read_all(pattern: str, schema: dict) -> pl.DataFrame:
    files = sorted(live_dir().glob(pattern))
    if not files:
        return pl.DataFrame(schema=schema)
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def book_session(
    *,
    cal: SessionCalendar,
    day: date,
    bars: pl.DataFrame,
    orders: pl.DataFrame,
    market: MarketConfig,
    hold_days: int,
    execution: str,
    url: str | None = None,
    rebuild: bool = False,
) -> BookOutcome:
    """Fill, value, reconcile and store the book for session `day`."""
    store = BookStore(url)
    first = store.first_day() or day
    if day < first:
        first = day  # a rebuild from before the book's first day
    first_month = decision_month(first, cal.month_last_session(first))
    first_session = cal.previous_session(first_month) if first_month <= day else first
    selections = _read_all("selection-*.parquet", {"month": pl.Date, "symbol": pl.String})
    selections = selections.filter(pl.col("month") >= first_month).select("month", "symbol")
    decisions = _read_all(
        "signals-*.parquet", {"symbol": pl.String, "date": pl.Date, "signal": pl.Int8}
    ).filter((pl.col("date") >= first_session) & (pl.col("date") <= day))
    month_last = cal.month_last_session(day)
    later = cal.sessions(day + timedelta(days=1), month_last) if day < month_last else []
    trades, nav, positions = replay(
        bars, selections, decisions, market, first_session=first_session, today=day,
        later_sessions=later, execution=execution, hold_days=hold_days,
    )  # fmt: skip
    stored = store.navs()
    if stored.height and not rebuild:
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
    lot = market.lot_size or (100 if market.name == "cn" else 1)  # A-share board lots: 100
    today = book_day(trades, nav, positions, day, lot)
    dropped = store.write_day(today, orders, rebuild=rebuild)
    summary = pl.DataFrame(
        [{"day": day, "nav": today.nav, "pnl": today.pnl, "cash": today.cash,
          "position_value": today.position_value, "reconciled": today.reconciles}]
    )  # fmt: skip
    publish_table(summary, "paper-book-nav", f"Paper book after the close of {day}")
    if today.fills:
        publish_table(pl.DataFrame(today.fills), "paper-book-fills", f"Fills of {day}")
    return BookOutcome(
        day=day,
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
