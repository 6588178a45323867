"""The paper book's persisted state: SQLite in the data home by default, PostgreSQL when set.

Tables (SQLAlchemy Core; created on first use): `book_days` (one row per session: NAV, cash,
position value, costs to date, P&L, whether cash + positions = NAV), `book_positions` (shares
and lots per symbol after the close), `book_fills` (the session's fills), `book_orders` (the
orders pending for the next session). A session is written in one transaction that first
deletes what that session held, so re-running a day replaces it (idempotent); a day before the
book's last day refuses unless `rebuild`, which deletes that day and every later one in the same
transaction.

URL: `book_url` (e.g. `postgresql+psycopg://user:pw@host/db`, needs the `postgres` extra), else
`CNNLSTM_BOOK_URL`, else `sqlite:///<data_home>/live/<dataset>/book.sqlite` (one book per
dataset; a shared URL refuses a second dataset, recorded in `book_meta`).
"""

from __future__ import annotations

import os
from datetime import date

import polars as pl
import sqlalchemy as sa

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.paths import data_home
from cnnlstm.tasks.live.book import BookDay

META = sa.MetaData()
DAYS = sa.Table(
    "book_days",
    META,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("nav", sa.Float, nullable=False),
    sa.Column("cash", sa.Float, nullable=False),
    sa.Column("position_value", sa.Float, nullable=False),
    sa.Column("costs_to_date", sa.Float, nullable=False),
    sa.Column("pnl", sa.Float, nullable=False),
    sa.Column("reconciled", sa.Boolean, nullable=False),
)
POSITIONS = sa.Table(
    "book_positions",
    META,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("symbol", sa.String(32), primary_key=True),
    sa.Column("shares", sa.Float, nullable=False),
    sa.Column("lots", sa.Integer, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
)
FILLS = sa.Table(
    "book_fills",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("day", sa.Date, nullable=False, index=True),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("session", sa.String(8), nullable=False),
    sa.Column("price", sa.Float, nullable=False),
    sa.Column("shares", sa.Float, nullable=False),
    sa.Column("cost", sa.Float, nullable=False),
    sa.Column("reason", sa.String(200)),
)
META_TABLE = sa.Table(
    "book_meta",
    META,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)
ORDERS = sa.Table(
    "book_orders",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("day", sa.Date, nullable=False, index=True),
    sa.Column("trade_date", sa.Date, nullable=False),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("session", sa.String(8), nullable=False),
    sa.Column("shares", sa.Float),
    sa.Column("reason", sa.String(200)),
)


def book_url(explicit: str | None = None, dataset: str | None = None) -> str:
    """The book's database URL (see the module docstring)."""
    folder = data_home() / "live" / dataset if dataset else data_home()
    if explicit or os.environ.get("CNNLSTM_BOOK_URL"):
        return explicit or os.environ["CNNLSTM_BOOK_URL"]
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'book.sqlite'}"


class BookStore:
    """The book's tables in one database, holding the book of one dataset.

    `dataset` (the live flows' dataset key) is stored with the first session; a database that
    holds another dataset's book is refused, so two datasets never share one book.
    """

    def __init__(self, url: str | None = None, dataset: str | None = None) -> None:
        self.url = book_url(url, dataset)
        self.dataset = dataset
        self.engine = sa.create_engine(self.url)
        META.create_all(self.engine)

    def _claim(self, conn: sa.Connection) -> None:
        """Record this store's dataset, or refuse a database holding another one's book."""
        if self.dataset is None:
            return
        held = conn.execute(
            sa.select(META_TABLE.c.value).where(META_TABLE.c.key == "dataset")
        ).scalar()
        if held is None:
            conn.execute(META_TABLE.insert(), [{"key": "dataset", "value": self.dataset}])
        elif held != self.dataset:
            raise UserInputError(
                f"the book at {self.url} holds dataset {held}, not {self.dataset}: give each "
                "dataset its own book_url (or use the default, one book per dataset)"
            )

    def last_day(self) -> date | None:
        """The book's last recorded session."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(DAYS.c.day))).scalar()

    def first_day(self) -> date | None:
        """The book's first recorded session."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(DAYS.c.day))).scalar()

    def navs(self) -> pl.DataFrame:
        """Every stored day's values."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(DAYS).order_by(DAYS.c.day)).mappings().all()
        schema = {c.name: pl.Date if c.name == "day" else pl.Float64 for c in DAYS.c}
        schema["reconciled"] = pl.Boolean
        return pl.DataFrame([dict(r) for r in rows], schema=schema, orient="row")

    def fills(self) -> pl.DataFrame:
        """Every stored fill, in day order."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(FILLS).order_by(FILLS.c.id)).mappings().all()
        return pl.DataFrame([dict(r) for r in rows]) if rows else pl.DataFrame()

    def write_day(self, day: BookDay, orders: pl.DataFrame, *, rebuild: bool = False) -> list[date]:
        """Store one session in a transaction; returns the later days a rebuild deleted.

        Raises:
            UserInputError: `day` is before the book's last day and `rebuild` is False.
        """
        with self.engine.begin() as conn:
            self._claim(conn)
            last = conn.execute(sa.select(sa.func.max(DAYS.c.day))).scalar()
            dropped: list[date] = []
            if last is not None and day.day < last:
                if not rebuild:
                    raise UserInputError(
                        f"{day.day} comes before the book's last day {last}: re-run with "
                        "rebuild=True to rebuild the book from this day"
                    )
                dropped = list(
                    conn.execute(sa.select(DAYS.c.day).where(DAYS.c.day > day.day)).scalars()
                )
            for table in (DAYS, POSITIONS, FILLS, ORDERS):
                conn.execute(table.delete().where(table.c.day >= day.day))
            conn.execute(
                DAYS.insert(),
                [
                    {
                        "day": day.day,
                        "nav": day.nav,
                        "cash": day.cash,
                        "position_value": day.position_value,
                        "costs_to_date": day.costs_to_date,
                        "pnl": day.pnl,
                        "reconciled": day.reconciles,
                    }
                ],
            )
            if day.positions:
                conn.execute(POSITIONS.insert(), [{"day": day.day, **p} for p in day.positions])
            if day.fills:
                conn.execute(FILLS.insert(), [{"day": day.day, **f} for f in day.fills])
            rows = [
                {
                    "day": day.day,
                    **{
                        k: r[k]
                        for k in ("trade_date", "symbol", "side", "session", "shares", "reason")
                    },
                }
                for r in orders.to_dicts()
            ]
            if rows:
                conn.execute(ORDERS.insert(), rows)
        return dropped
