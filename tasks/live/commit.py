"""One session of the daily timing, stored as one: files staged, the book's rows, then the state.

The session's signals, orders and the new timing state are staged beside their files
(`cnnlstm.core.files.stage`); the book's rows are written in one transaction; only then are the
files moved into place, the timing state last (it marks the session as processed). A failure
before the state leaves the previous session's state as it was, so a re-run reproduces the
session. A rebuild withdraws the later days' signals and orders.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from cnnlstm.core import files as core_files
from cnnlstm.tasks.live import files
from cnnlstm.tasks.live.book import BookDay
from cnnlstm.tasks.live.book_store import BookStore
from cnnlstm.tasks.live.orders import TimingState


def commit_session(
    dataset: str,
    day: date,
    *,
    decided: pl.DataFrame,
    orders: pl.DataFrame,
    state: TimingState,
    dropped: list[date],
    book: tuple[BookStore, BookDay] | None = None,
    rebuild: bool = False,
) -> list[date]:
    """Store session `day`; returns the later days the book's rebuild dropped.

    Raises:
        UserInputError: the book refuses the day (before its last day without `rebuild`).
    """
    staged = [
        (files.stage_file(decided, files.signals_path(dataset, day)),
         files.signals_path(dataset, day)),
        (files.stage_file(orders, files.orders_path(dataset, day)),
         files.orders_path(dataset, day)),
        (files.stage_file(state.model_dump_json(indent=1), files.state_path(dataset)),
         files.state_path(dataset)),
    ]  # fmt: skip
    try:
        book_dropped = [] if book is None else book[0].write_day(book[1], orders, rebuild=rebuild)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for later in sorted(set(dropped) | set(book_dropped)):  # a rebuild withdraws later days
        files.orders_path(dataset, later).unlink(missing_ok=True)
        files.signals_path(dataset, later).unlink(missing_ok=True)
    for tmp, path in staged:  # the state last: it marks the session as processed
        core_files.commit(tmp, path)
    return book_dropped
