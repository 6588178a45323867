"""CSV and Parquet bars: a long table, or a folder of per-symbol files, with a column mapping.

Input contract: each file has a date column and open, high, low, close, volume columns (names
matched case-insensitively, or given by `columns={"close": "Adj Close", ...}` as our name ->
the file's name). The symbol comes from a `symbol` column (or `Name`, `ticker`, `code`), else
from the file's name. Without an `amount` column, amount is derived as close x volume and the
report says so. The Kaggle US layout `date,open,high,low,close,volume,Name` needs no mapping.
Within a per-symbol file dates must run oldest first. Rows are not validated here (ingestion
validates against `BarsSchema`), but nothing is dropped: empty cells stay null for the schema
to report.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import polars as pl
from tqdm import tqdm

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.bars import BAR_COLUMNS, BENCHMARK_COLUMNS
from cnnlstm.tasks.data.sources.base import SourceData, summarize
from cnnlstm.tasks.data.sources.files import (
    FILE_COLUMN,
    LINE_COLUMN,
    check_date_order,
    check_parquet_rows,
    data_files,
    parse_dates,
    parse_numbers,
    pick_columns,
    read_parquet_table,
    read_text_table,
    resolve_columns,
    scan_data_files,
    scan_parquet_table,
    scan_text_table,
)
from cnnlstm.tasks.data.sources.window import DateWindow

SYMBOL_ALIASES = ("symbol", "name", "ticker", "code", "instrument")
NUMERIC = ("open", "high", "low", "close", "volume", "amount")


def _read(kind: str, path: Path, encoding: str) -> pl.DataFrame:
    return (
        read_parquet_table(path) if kind == "parquet" else read_text_table(path, encoding=encoding)
    )


def _scan(kind: str, path: Path, encoding: str) -> pl.LazyFrame:
    return (
        scan_parquet_table(path) if kind == "parquet" else scan_text_table(path, encoding=encoding)
    )


def _symbol_column(df: pl.DataFrame, mapping: Mapping[str, str]) -> str | None:
    """The file's symbol column: the mapped one, else the first alias present."""
    if "symbol" in mapping:
        return mapping["symbol"]
    lower = {c.lower(): c for c in df.columns}
    return next((lower[a] for a in SYMBOL_ALIASES if a in lower), None)


def read_bars_file(
    kind: str,
    path: Path,
    columns: Mapping[str, str] | None = None,
    *,
    encoding: str = "utf8",
    timezone: str | None = None,
    window: DateWindow | None = None,
    date_format: str | None = None,
) -> pl.DataFrame:
    """Read one file's bars columns, unparsed, tagged with file and line.

    A missing amount column is added empty, with `_derived` set, for `finish_bars` to fill.
    With `window`, only the rows of its dates (and a day either side, and rows whose date
    cannot be read) are materialised, filtered as the file is scanned (`window.DateWindow`).
    """
    mapping = dict(columns or {})
    lazy = _scan(kind, path, encoding)
    schema = lazy.collect_schema()
    header = pl.DataFrame(schema=schema)
    wanted = {c: mapping.get(c, c) for c in BAR_COLUMNS if c != "symbol"}
    symbol_col = _symbol_column(header, mapping)
    if symbol_col is not None:
        wanted["symbol"] = symbol_col
    found = resolve_columns(header, wanted, path, optional=("amount",))
    derived = "amount" not in found
    text = pl.String if kind == "csv" else pl.Float64
    symbol = pl.col(found["symbol"]).cast(pl.String) if "symbol" in found else pl.lit(path.stem)
    rows = lazy.with_row_index(LINE_COLUMN, offset=2)
    if window is not None:
        date_col = found["date"]
        rows = rows.filter(window.scan_filter(date_col, schema[date_col], date_format))
    # One select per file: with hundreds of small files, per-operation overhead dominates.
    df = rows.select(
        symbol.str.strip_chars().alias("symbol"),
        *[pl.col(theirs).alias(ours) for ours, theirs in found.items() if ours != "symbol"],
        *([pl.lit(None, dtype=text).alias("amount")] if derived else []),
        pl.lit(derived).alias("_derived"),
        pl.lit(str(path)).alias(FILE_COLUMN),
        pl.col(LINE_COLUMN).cast(pl.Int64),
    ).collect()
    if kind == "parquet" and df.height == 0:
        check_parquet_rows(lazy, path)  # an empty file is an error; an empty window is not
    if kind == "parquet":  # typed columns: convert per file so that files concatenate
        df = parse_dates(df, path, timezone=timezone)
        if window is not None:
            df = df.filter(window.exact(pl.col("date")))
        df = parse_numbers(df, NUMERIC, path)
    return df


def finish_bars(
    df: pl.DataFrame,
    where: Path | str,
    date_format: str | None = None,
    decimal: str | None = None,
    timezone: str | None = None,
    window: DateWindow | None = None,
) -> pl.DataFrame:
    """Parse dates and numbers of tagged rows, derive missing amounts, check per-file order.

    With `window`, the rows dated outside it are cut once their dates are read (their numbers
    are not parsed).
    """
    dated = parse_dates(df, where, date_format, timezone=timezone)
    if window is not None:
        dated = dated.filter(window.exact(pl.col("date")))
    df = parse_numbers(dated, NUMERIC, where, decimal=decimal)
    df = df.with_columns(
        amount=pl.when("_derived").then(pl.col("close") * pl.col("volume")).otherwise("amount")
    )
    one_symbol = pl.col("symbol").n_unique().over(FILE_COLUMN) == 1
    check_date_order(df.filter(one_symbol), where)
    return df


def load(
    kind: str,
    path: str,
    *,
    columns: Mapping[str, str] | None = None,
    date_format: str | None = None,
    encoding: str = "utf8",
    symbols: list[str] | None = None,
    decimal: str | None = None,
    suffix: str | None = None,
    timezone: str | None = None,
    start: date | str | None = None,
    end: date | str | None = None,
) -> SourceData:
    """Read bars from a CSV/Parquet file or a folder of them.

    Args:
        kind: "csv" or "parquet".
        path: A file, or a folder whose `.csv` (`.parquet`) files are read.
        columns: Our column name -> the file's, for columns not named as ours.
        date_format: A strftime format for the dates (default: ISO, `Y/m/d` or `Ymd`).
        encoding: The CSV files' text encoding.
        symbols: Read only these symbols (matched case-insensitively).
        decimal: The CSV numbers' decimal mark: "." or "," (`12,50`); not stated, "." with
            `1,234`-like cells refused unless their file settles them (see
            `tasks.data.sources.files.parse_numbers`).
        suffix: The data files' suffix in a folder (default `.csv` / `.parquet`); other files
            are not read and are listed in the report.
        timezone: The market's time zone (e.g. Asia/Shanghai): date-times that carry a zone
            (`2010-01-03T16:00:00Z`, a zoned Parquet column) are read as their date there;
            without it they are refused (`files.parse_dates`). The research flows pass the
            market's zone.
        start: With `end`: read only the rows dated in [start, end] (either open; ISO text or
            dates), filtered as each file is scanned (`window.DateWindow`: a Parquet date
            column's filter is pushed into the scan; CSV rows outside are never
            materialised). The rows in the window are those a whole read gives.
        end: The window's last day (see `start`).
    """
    if suffix:
        suffixes: tuple[str, ...] = ("." + suffix.lstrip(".").lower(),)
    else:
        suffixes = (".parquet", ".pq") if kind == "parquet" else (".csv",)
    scan = scan_data_files(path, suffixes)
    files = scan.files
    window = DateWindow.of(start, end, kind)
    progress = tqdm(files, desc=f"reading {kind}", unit="file", disable=len(files) < 50 or None)
    frames = [
        read_bars_file(
            kind,
            file,
            columns,
            encoding=encoding,
            timezone=timezone,
            window=window,
            date_format=date_format,
        )  # fmt: skip
        for file in progress
    ]
    # One parse over all files: per-file parsing costs more in overhead than in work.
    tagged = pl.concat(frames, how="vertical")
    if symbols is not None:
        wanted = [s.upper() for s in symbols]
        tagged = tagged.filter(pl.col("symbol").str.to_uppercase().is_in(wanted))
    parsed = finish_bars(tagged, path, date_format, decimal, timezone, window)
    derived = parsed.filter("_derived")[FILE_COLUMN].n_unique()
    bars = parsed.select(BAR_COLUMNS).sort("symbol", "date", maintain_order=True)
    notes = [f"read {len(files)} file(s) from {path}"]
    if scan.note():
        notes.append(scan.note())
    if window is not None:
        notes.append(f"read only the rows dated {window.describe()}: the span the run needs")
    if derived:
        notes.append(f"amount derived as close x volume (no amount column) in {derived} file(s)")
    report = summarize(bars, f"{kind}:{path}", None, notes)
    return SourceData(bars=bars, benchmark=None, report=report)


def load_benchmark(kind: str, path: str, symbol: str | None) -> pl.DataFrame:
    """Read a benchmark index (date and close columns) from one CSV/Parquet file.

    With a symbol column, `symbol` picks the index; otherwise the index is named `symbol` or the
    file's name. Other columns (open, volume, ...) are ignored: the benchmark needs only closes.
    """
    files = data_files(path, (".csv",) if kind == "csv" else (".parquet",))
    if len(files) != 1:
        raise UserInputError(f"benchmark {kind}:{path} must be one file, found {len(files)}")
    file = files[0]
    raw = _read(kind, file, "utf8")
    symbol_col = _symbol_column(raw, {})
    wanted = {"date": "date", "close": "close"}
    if symbol_col is not None:
        wanted["symbol"] = symbol_col
    df = pick_columns(raw, wanted, file)
    if "symbol" in df.columns:
        df = df.with_columns(pl.col("symbol").cast(pl.String).str.strip_chars())
        if symbol is not None:
            df = df.filter(pl.col("symbol").str.to_uppercase() == symbol.upper())
            if df.height == 0:
                raise UserInputError(f"{file}: no rows for benchmark symbol {symbol!r}")
        elif df["symbol"].n_unique() > 1:
            names = ", ".join(df["symbol"].unique().sort().head(5).to_list())
            raise UserInputError(
                f"{file} holds several symbols ({names}, ...): name one as {kind}:{path}#SYMBOL"
            )
    else:
        df = df.with_columns(symbol=pl.lit(symbol or file.stem))
    df = parse_numbers(parse_dates(df, file), ["close"], file)
    check_date_order(df, file)
    return df.select(BENCHMARK_COLUMNS)
