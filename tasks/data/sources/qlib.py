"""Qlib binary data folders: `calendars/day.txt`, `instruments/*.txt`, `features/<sym>/<f>.day.bin`.

Input contract (Qlib's own layout): each `<field>.day.bin` is little-endian float32 whose first
value is the index of its first day in the calendar, followed by one value per calendar day.
Prices (open, high, low, close) are adjusted; `factor` turns them back into traded prices
(raw = adjusted / factor). Volume is in shares. There is no amount: it is derived as
raw close x volume (the money that changed hands) and the report says so. A suspended day is a
row with volume 0 that still carries a close: it is kept as such (never given fake prices); a
row with no volume (NaN) whose open, high and low equal its close is the same carried-forward
suspension and is read as volume 0, counted in the report. Any other missing value stays null
for the schema to report.
A day with no value in any field (NaN everywhere, Qlib's padding) is no trading record and is
not a row; the report counts such padding. Symbols are matched case-insensitively (some
folders are lower-case) and returned upper-case. Index instruments (SH000xxx, SZ399xxx) are not
stocks; they serve as benchmark via `qlib:PATH#SH000300`.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.bars import BAR_COLUMNS, BENCHMARK_COLUMNS
from cnnlstm.tasks.data.sources.base import SourceData, summarize
from cnnlstm.tasks.data.sources.window import as_date
from cnnlstm.tasks.data.universe import read_membership

FIELDS = ("open", "high", "low", "close", "volume", "factor")
INDEX_PATTERN = re.compile(r"^(SH000|SZ399|SH950|CSI)\d*", re.IGNORECASE)


def is_index(symbol: str) -> bool:
    """Whether a Qlib symbol names an index rather than a stock (SH000300, SZ399006, ...)."""
    return bool(INDEX_PATTERN.match(symbol))


def read_calendar(root: Path) -> np.ndarray:
    """The trading calendar as numpy datetime64[D] values (sorted, unique; else refused).

    Each field file is laid out on the calendar's positions: an unsorted or repeated date would
    move bars to other days without a word, so it is an error naming the line.
    """
    path = root / "calendars" / "day.txt"
    if not path.is_file():
        raise UserInputError(f"{root}: not a Qlib data folder (no calendars/day.txt)")
    numbered = [(i, x.strip()[:10]) for i, x in enumerate(path.read_text().splitlines(), 1)]
    numbered = [(i, x) for i, x in numbered if x]
    if not numbered:
        raise UserInputError(f"{path}: calendar is empty")
    try:
        days = np.array([x for _, x in numbered], dtype="datetime64[D]")
    except ValueError as err:
        raise UserInputError(f"{path}: unreadable date in the calendar ({err})") from None
    step = np.diff(days).astype(np.int64)
    if (step <= 0).any():
        k = int(np.flatnonzero(step <= 0)[0]) + 1
        what = "repeats" if step[k - 1] == 0 else "comes before"
        raise UserInputError(
            f"{path}, line {numbered[k][0]}: {days[k]} {what} the date on line "
            f"{numbered[k - 1][0]} ({days[k - 1]}); a Qlib calendar must be sorted and unique "
            "(bars are laid out on its positions)"
        )
    return days


def feature_dirs(root: Path) -> dict[str, Path]:
    """Map upper-case symbol -> its features folder (folder names may be any case)."""
    features = root / "features"
    if not features.is_dir():
        raise UserInputError(f"{root}: not a Qlib data folder (no features/)")
    dirs = {p.name.upper(): p for p in features.iterdir() if p.is_dir()}
    if not dirs:
        raise UserInputError(f"{features}: holds no instruments")
    return dirs


def _read_values(path: Path, first: int, count: int) -> np.ndarray:
    """`count` float32 values of a `.day.bin` from its value number `first` (0 = after the header).

    Only those bytes are read (an offset into the file), never the whole file.
    """
    return np.fromfile(path, dtype="<f4", count=count, offset=4 * (1 + first))


def read_field(
    path: Path, n_days: int, window: tuple[int, int] | None = None
) -> tuple[int, np.ndarray]:
    """Read one `.day.bin`: (calendar index of the first value returned, float64 values).

    Args:
        path: The field file.
        n_days: The calendar's length (the file must not run past it).
        window: Calendar indices `(first, last)` to read, both included; None: the whole file.
            Only the values inside the window are read from disk.
    """
    header = np.fromfile(path, dtype="<f4", count=1)
    if header.size < 1 or not np.isfinite(header[0]):
        raise UserInputError(f"{path}: empty or corrupt Qlib field file")
    if header[0] != np.floor(header[0]):
        raise UserInputError(
            f"{path}: corrupt Qlib field file: its header (the first calendar index) is "
            f"{float(header[0])!r}, not a whole number"
        )
    nbytes = path.stat().st_size
    if nbytes % 4:
        raise UserInputError(
            f"{path}: corrupt Qlib field file: {nbytes} bytes is not a whole number of "
            "float32 values (truncated or not a Qlib .bin)"
        )
    start = int(header[0])
    size = nbytes // 4 - 1
    if start < 0 or start + size > n_days:
        raise UserInputError(
            f"{path}: covers calendar days {start}..{start + size - 1} but the calendar "
            f"has {n_days} days"
        )
    lo, hi = (start, start + size - 1) if window is None else window
    first, last = max(lo, start), min(hi, start + size - 1)
    if last < first:
        return max(lo, 0), np.empty(0)
    return first, _read_values(path, first - start, last - first + 1).astype(np.float64)


def read_instrument(
    folder: Path,
    calendar: np.ndarray,
    fields: tuple[str, ...],
    window: tuple[int, int] | None = None,
) -> pl.DataFrame:
    """One instrument's fields on the calendar days any field covers (NaN where absent).

    `window` (calendar indices, both included) limits what is read to those days.
    """
    lo, hi = (0, calendar.size - 1) if window is None else window
    n = max(hi - lo + 1, 0)
    columns: dict[str, np.ndarray] = {}
    for name in fields:
        path = folder / f"{name}.day.bin"
        if not path.is_file():
            raise UserInputError(f"{folder}: missing field file {name}.day.bin")
        start, values = read_field(path, calendar.size, window)
        full = np.full(n, np.nan)
        full[start - lo : start - lo + values.size] = values
        columns[name] = full
    covered = np.zeros(n, dtype=bool)
    for values in columns.values():
        covered |= ~np.isnan(values)
    days = calendar[lo : hi + 1]
    return pl.DataFrame({"date": days[covered], **{k: v[covered] for k, v in columns.items()}})


def calendar_window(calendar: np.ndarray, start: date | None, end: date | None) -> tuple[int, int]:
    """The calendar indices `(first, last)` of the days in [start, end] (either open).

    An empty window has `last < first`.
    """
    lo = 0 if start is None else int(np.searchsorted(calendar, np.datetime64(start, "D")))
    hi = (
        calendar.size - 1
        if end is None
        else int(np.searchsorted(calendar, np.datetime64(end, "D"), side="right")) - 1
    )
    return lo, hi


def _resolve(root: str) -> Path:
    path = Path(root).expanduser()
    if not path.is_dir():
        raise UserInputError(f"{path}: no such folder")
    return path


def load(
    kind: str,
    path: str,
    *,
    symbols: list[str] | None = None,
    instruments: str = "all",
    start: date | str | None = None,
    end: date | str | None = None,
) -> SourceData:
    """Read the stocks of a Qlib folder (index instruments are left to `load_benchmark`).

    Args:
        kind: "qlib".
        path: The Qlib data folder.
        symbols: Read only these symbols (case-insensitive); default every stock in
            `instruments/<instruments>.txt`, or every features folder if that file is absent.
        instruments: The instruments list to read (e.g. "all", "csi300").
        start: With `end`: read only the calendar days in [start, end] (either open; ISO text or
            dates): each field file is read from the first of those days' offset for as many
            values as the window holds, never decoded whole.
        end: The window's last day (see `start`).
    """
    root = _resolve(path)
    calendar = read_calendar(root)
    window = calendar_window(calendar, as_date(start, "start", "qlib"), as_date(end, "end", "qlib"))
    dirs = feature_dirs(root)
    wanted, membership, without_data = _wanted(root, dirs, symbols, instruments)
    stocks = [s for s in wanted if not is_index(s)]
    if not stocks:
        raise UserInputError(f"{root}: no stock instruments (only indices) to read")

    frames, padding = [], 0
    for symbol in tqdm(stocks, desc="reading qlib", unit="stock", disable=len(stocks) < 50 or None):
        inst = read_instrument(dirs[symbol], calendar, FIELDS, window)
        blank = pl.all_horizontal(pl.col(c).is_nan() for c in FIELDS)
        padding += inst.filter(blank).height
        frames.append(inst.filter(~blank).with_columns(symbol=pl.lit(symbol)))
    # NaN -> null so the schema reports a missing value as missing.
    raw = pl.concat(frames).with_columns(pl.col(c).fill_nan(None) for c in FIELDS)
    flat_no_volume = pl.col("volume").is_null() & pl.all_horizontal(
        pl.col(c) == pl.col("close") for c in ("open", "high", "low")
    )
    n_flat = raw.select(flat_no_volume.sum()).item()
    bars = (
        raw.with_columns(volume=pl.when(flat_no_volume).then(0.0).otherwise(pl.col("volume")))
        .with_columns(amount=pl.col("close") / pl.col("factor") * pl.col("volume"))
        .select(BAR_COLUMNS)
        .sort("symbol", "date")
    )
    notes = [
        f"read {len(stocks)} stock(s) from {root} ({len(wanted) - len(stocks)} index instrument(s) "
        "left for the benchmark)",
        *_missing_members(without_data, instruments),
        "amount derived as raw close (close / factor) x volume (Qlib has no amount field)",
    ]
    if n_flat:
        notes.append(
            f"{n_flat} row(s) with no volume and open = high = low = close (the previous close "
            "carried forward) read as suspended days (volume 0)"
        )
    if start is not None or end is not None:
        first, last = (str(calendar[i]) if 0 <= i < calendar.size else "-" for i in window)
        notes.append(
            f"read calendar days {first} .. {last} only ({max(window[1] - window[0] + 1, 0)} of "
            f"{calendar.size}): the span the run needs"
        )
    if padding:
        notes.append(f"{padding} calendar day(s) with no value in any field (Qlib padding) skipped")
    all_listed = root / "instruments" / "all.txt"
    return SourceData(
        bars=bars,
        benchmark=None,
        report=summarize(bars, f"qlib:{root}", None, notes),
        membership=membership,
        universe_name=None if membership is None else universe_label(instruments),
        listing=stock_periods(read_membership(all_listed, table="listing (instruments all)"))
        if all_listed.is_file()
        else None,
    )


def _wanted(
    root: Path, dirs: dict[str, Path], symbols: list[str] | None, instruments: str
) -> tuple[list[str], pl.DataFrame | None, list[str]]:
    """The symbols to read, the membership table and the members without a features folder.

    Symbols named explicitly must all have a folder; the members of `instruments/<name>.txt`
    without one are returned for the report (the run goes on without them).
    """
    listed = root / "instruments" / f"{instruments}.txt"
    if symbols is not None:
        wanted = [s.upper() for s in symbols]
        unknown = [s for s in wanted if s not in dirs]
        if unknown:
            raise UserInputError(f"{root}: no features folder for {', '.join(unknown[:10])}")
        return wanted, None, []
    if not listed.is_file():
        return sorted(dirs), None, []
    membership = stock_periods(read_membership(listed, table=f"instruments {instruments}"))
    named = sorted(set(membership["symbol"].to_list()))
    return [s for s in named if s in dirs], membership, [s for s in named if s not in dirs]


def _missing_members(without_data: list[str], instruments: str) -> list[str]:
    """The read report's note naming the members without a features folder (none: none)."""
    if not without_data:
        return []
    more = f" and {len(without_data) - 10} more" if len(without_data) > 10 else ""
    return [
        f"{len(without_data)} member(s) of instruments/{instruments}.txt have no features "
        f"folder: {', '.join(without_data[:10])}{more}"
    ]


def stock_periods(periods: pl.DataFrame) -> pl.DataFrame:
    """The periods of stocks only (index instruments are benchmarks, not members)."""
    return periods.filter(~pl.col("symbol").str.contains(INDEX_PATTERN.pattern))


def universe_label(instruments: str) -> str:
    """A Qlib instruments name as a reader writes it: csi300 -> CSI 300, all -> all listed."""
    if instruments.lower() == "all":
        return "All listed stocks"
    match = re.fullmatch(r"([A-Za-z]+)(\d+)", instruments)
    return f"{match[1].upper()} {match[2]}" if match else instruments


def load_benchmark(kind: str, path: str, symbol: str | None) -> pl.DataFrame:
    """Read an index instrument's closes, e.g. `qlib:PATH#SH000300`."""
    root = _resolve(path)
    if not symbol:
        raise UserInputError(
            f"name the index of qlib:{path} as qlib:{path}#SYMBOL (e.g. #SH000300)"
        )
    dirs = feature_dirs(root)
    if symbol.upper() not in dirs:
        indices = ", ".join(s for s in sorted(dirs) if is_index(s)) or "none"
        raise UserInputError(f"{root}: no instrument {symbol!r} (indices here: {indices})")
    inst = read_instrument(dirs[symbol.upper()], read_calendar(root), ("close",))
    return (
        inst.filter(~pl.col("close").is_nan())
        .with_columns(symbol=pl.lit(symbol.upper()))
        .select(BENCHMARK_COLUMNS)
    )
