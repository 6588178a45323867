"""The live folder of one dataset: where the live flows' files live, how they are read and written.

Each dataset (the live flows' dataset key) has its own folder `live/<dataset>/` in the data
home: the published selection of month t is `selection-YYYY-MM.parquet` and its CNN scores
`scores-YYYY-MM.parquet`; the LSTM decisions of day d are `signals-YYYY-MM-DD.parquet` and the
orders they imply `orders-YYYY-MM-DD.parquet`; the daily timing state is `timing-state.json`
(the decision month and each symbol's decisions so far); the paper book is `book.sqlite`
(`book_store`). Every file is written atomically (`cnnlstm.core.files`) while the dataset's
lock is held (`live_lock`); a reader never sees a torn file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import polars as pl

from cnnlstm.core import files
from cnnlstm.core.errors import UserInputError
from cnnlstm.core.paths import data_home
from cnnlstm.tasks.live.orders import TimingState

#: Seconds a live flow waits for another run of the same dataset to finish.
LOCK_TIMEOUT_S = 600.0

#: The LSTM decisions' table, as the daily timing writes it and the book and monitor read it.
SIGNALS_SCHEMA = {"symbol": pl.String, "date": pl.Date, "signal": pl.Int8}
SELECTION_KEYS = {"month": pl.Date, "symbol": pl.String}


def live_dir(dataset: str) -> Path:
    """The folder of one dataset's published selections, timing state, orders and book."""
    path = data_home() / "live" / dataset
    path.mkdir(parents=True, exist_ok=True)
    return path


def selection_path(dataset: str, month: date) -> Path:
    """Where month `month`'s published selection lives."""
    return live_dir(dataset) / f"selection-{month:%Y-%m}.parquet"


def scores_path(dataset: str, month: date) -> Path:
    """Where month `month`'s CNN scores of every eligible stock live (the monitor reads them)."""
    return live_dir(dataset) / f"scores-{month:%Y-%m}.parquet"


def signals_path(dataset: str, day: date) -> Path:
    """Where the LSTM signals decided after `day`'s close live (the monitor reads them)."""
    return live_dir(dataset) / f"signals-{day}.parquet"


def orders_path(dataset: str, day: date) -> Path:
    """Where the orders decided after `day`'s close live."""
    return live_dir(dataset) / f"orders-{day}.parquet"


def state_path(dataset: str) -> Path:
    """The daily timing state of one dataset."""
    return live_dir(dataset) / "timing-state.json"


def stage_file(frame_or_text: pl.DataFrame | str, path: Path) -> Path:
    """Stage a frame (Parquet) or text beside `path`; `files.commit(tmp, path)` commits it."""
    if isinstance(frame_or_text, pl.DataFrame):
        return files.stage(path, frame_or_text.write_parquet)
    return files.stage(path, frame_or_text)


def write_atomic(frame_or_text: pl.DataFrame | str, path: Path) -> Path:
    """Write a frame (Parquet) or text to `path` atomically."""
    return files.commit(stage_file(frame_or_text, path), path)


@contextmanager
def live_lock(dataset: str) -> Iterator[None]:
    """An exclusive lock on one dataset's live state (a second writer waits, then fails).

    Raises:
        LockTimeoutError: another run held the lock for `LOCK_TIMEOUT_S` seconds.
    """
    lock = live_dir(dataset) / ".lock"
    with files.locked(lock, timeout=LOCK_TIMEOUT_S, what=f"the live state of {dataset}"):
        yield


def read_state(dataset: str) -> dict:
    """The daily timing state as stored (empty before the first run)."""
    path = state_path(dataset)
    return json.loads(path.read_text()) if path.exists() else {}


def timing_state(dataset: str) -> TimingState:
    """The daily timing state (an empty one before the first run)."""
    raw = read_state(dataset)
    if not raw or "month" not in raw:
        return TimingState()
    return TimingState.model_validate(raw)


def published_months(dataset: str) -> list[date]:
    """The months whose selection the dataset's live folder holds, in order."""
    names = sorted(live_dir(dataset).glob("selection-*.parquet"))
    return [date(int(p.stem[10:14]), int(p.stem[15:17]), 1) for p in names]


def selected_symbols(dataset: str, month: date) -> list[str]:
    """The symbols of month `month`'s published selection.

    Raises:
        UserInputError: no selection was published for the month.
    """
    path = selection_path(dataset, month)
    if not path.exists():
        raise UserInputError(
            f"no selection published for {month:%Y-%m} ({path}): run monthly_selection first"
        )
    return pl.read_parquet(path)["symbol"].to_list()


def read_all(dataset: str, pattern: str, schema: dict) -> pl.DataFrame:
    """Every file of the live folder matching `pattern`, stacked (`schema` when there is none)."""
    found = sorted(live_dir(dataset).glob(pattern))
    if not found:
        return pl.DataFrame(schema=schema)
    return pl.concat([pl.read_parquet(f) for f in found], how="diagonal_relaxed")


def published_scores(dataset: str) -> list[tuple[date, Path]]:
    """(month, file) of every month's published CNN scores, in order."""
    out = []
    for path in sorted(live_dir(dataset).glob("scores-*.parquet")):
        month = path.name.removeprefix("scores-").removesuffix(".parquet")
        out.append((date.fromisoformat(month + "-01"), path))
    return out
