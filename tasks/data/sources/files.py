"""Reading users' data files with errors a user can act on.

Every reader of a file-based source goes through these helpers, so that an empty file, a wrong
encoding, a missing or misspelled column, an unreadable date or number, or dates out of order
raise `UserInputError` naming the file, the column and the first offending lines, never a
traceback from inside polars. Row numbers in messages are the file's line numbers (header = 1).
Values are read as text and converted here, so that nothing is silently turned into null.

Numbers are parsed without guessing: a comma is a thousands separator only where the whole cell
matches `-1,234,567.89` (`THOUSANDS`); a decimal comma (`12,50`) is read only with the explicit
option `decimal=","` (then a point is the grouping mark: `1.234,50`); any other cell is an error
naming the file, line and value. A cell like `1,234` (1234 or 1.234?) is read as 1234 only when
the option states `decimal="."` or another cell of its file and column reads one way only
(`12,345,678`, `1,234.5`, `12.5`); otherwise it is refused, naming file, column, line and value.
Blank lines at the end of a file are not rows and are ignored; a blank line between rows is an
error naming its line. A folder is read for files with the data
suffix only: the others are listed (`FolderScan.skipped`) for the read report, and a broken or
looping symlink with a data suffix is an error, never skipped without a word.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cnnlstm.core.errors import UserInputError

MISSING_TOKENS = ("", "None", "none", "null", "NULL", "NaN", "nan", "-", "--")
"""Cell texts that mean "no value" (read as null, then reported by the schema if required)."""
EXAMPLES = 3


@dataclass
class FolderScan:
    """The data files found at a path, and the entries of its folder that were not read."""

    files: list[Path]
    skipped: list[str] = field(default_factory=list)

    def note(self) -> str | None:
        """A read-report line naming the skipped entries (None when nothing was skipped)."""
        if not self.skipped:
            return None
        shown = ", ".join(self.skipped[:10]) + (", ..." if len(self.skipped) > 10 else "")
        return f"skipped {len(self.skipped)} file(s) without the data suffix: {shown}"


def scan_data_files(path: Path | str, suffixes: Iterable[str]) -> FolderScan:
    """The data files at `path` (the file itself, or a folder's files with one of `suffixes`).

    Raises:
        UserInputError: the path does not exist, the folder holds no data file (naming files
            with other suffixes it does hold), or a data-suffixed entry is a broken or looping
            symlink.
    """
    path = Path(path).expanduser()
    suffixes = tuple(s.lower() for s in suffixes)
    if not path.exists():
        if path.is_symlink():
            raise UserInputError(f"{path}: a broken or looping symlink ({_link_problem(path)})")
        raise UserInputError(f"{path}: no such file or folder")
    if path.is_file():
        return FolderScan(files=[path])
    files, skipped, broken = [], [], []
    for entry in sorted(path.iterdir()):
        wanted = entry.suffix.lower() in suffixes
        if entry.is_file() and wanted:
            files.append(entry)
        elif entry.is_symlink() and not entry.exists() and wanted:
            broken.append(f"{entry.name} ({_link_problem(entry)})")
        elif not entry.is_dir():
            skipped.append(entry.name)
    if broken:
        raise UserInputError(
            f"{path}: {len(broken)} data file(s) cannot be read, a broken or looping symlink: "
            + ", ".join(broken)
        )
    if not files:
        others = sorted({Path(n).suffix.lower() for n in skipped if Path(n).suffix})
        hint = (
            f"; it holds {', '.join(others)} files: if those are the data, pass the option "
            f"suffix={others[0]}"
            if others
            else ""
        )
        raise UserInputError(f"{path}: folder holds no data files ({', '.join(suffixes)}){hint}")
    return FolderScan(files=files, skipped=skipped)


def _link_problem(link: Path) -> str:
    """Why a symlink cannot be followed: a loop or a missing target."""
    try:
        link.resolve(strict=True)
    except RuntimeError:
        return "symlink loop"
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "symlink loop"
        return f"target {os.readlink(link)} does not exist"
    return "unreadable"


def data_files(path: Path | str, suffixes: Iterable[str]) -> list[Path]:
    """The data files at `path`: the file itself, or a folder's files with one of `suffixes`."""
    return scan_data_files(path, suffixes).files


_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")


def read_text_table(path: Path, *, encoding: str = "utf8") -> pl.DataFrame:
    """Read a CSV file with every column as text; raise a clear error if it cannot be read."""
    df = _collect(scan_text_table(path, encoding=encoding), path, "a readable CSV table")
    if df.height == 0:
        raise UserInputError(f"{path}: file has a header but no rows")
    return df


def scan_text_table(path: Path, *, encoding: str = "utf8") -> pl.LazyFrame:
    """A CSV file as a lazy frame of text columns, after the checks on its text.

    The checks (readable, not empty, the encoding, no blank line between rows, a row under the
    header) read the whole text; a filter on the frame is applied as polars parses the rows,
    so rows it drops are never materialised.
    """
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise UserInputError(f"{path}: cannot be read ({err.strerror})") from None
    if not raw.strip():
        raise UserInputError(f"{path}: file is empty")
    try:
        text = raw.decode("utf-8-sig" if encoding.lower() in ("utf8", "utf-8") else encoding)
    except UnicodeDecodeError as err:
        raise UserInputError(
            f"{path}: not valid {encoding} text (byte {err.start}); "
            "check the file's encoding (Chinese exports are often GBK)"
        ) from None
    text = text.rstrip()  # blank lines at the end are not rows
    blank = _BLANK_LINE.search(text)
    if blank:
        line = text.count("\n", 0, blank.start()) + 2
        raise UserInputError(
            f"{path}: line {line} is blank (a blank line between rows is not a row: remove it)"
        )
    if "\n" not in text:
        raise UserInputError(f"{path}: file has a header but no rows")
    lazy = pl.scan_csv(text.encode(), infer_schema=False)
    _schema(lazy, path, "a readable CSV table")
    return lazy


def read_parquet_table(path: Path) -> pl.DataFrame:
    """Read a Parquet file; raise a clear error if it cannot be read or holds no rows."""
    df = _collect(scan_parquet_table(path), path, PARQUET)
    if df.height == 0:
        raise UserInputError(f"{path}: file holds no rows")
    return df


PARQUET = "a readable Parquet file"


def scan_parquet_table(path: Path) -> pl.LazyFrame:
    """A Parquet file as a lazy frame (checked readable from its metadata).

    A filter on the frame is pushed into the scan: row groups whose statistics fall outside
    it are skipped, and only the selected columns are decoded. A file without rows is the
    caller's check (`check_parquet_rows` when a filter left none).
    """
    try:
        lazy = pl.scan_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise UserInputError(f"{path}: not {PARQUET} ({str(err).splitlines()[0]})") from None
    _schema(lazy, path, PARQUET)
    return lazy


def check_parquet_rows(lazy: pl.LazyFrame, path: Path) -> None:
    """Raise if the Parquet file holds no rows at all (its metadata's count)."""
    if _collect(lazy.select(pl.len()), path, PARQUET).item() == 0:
        raise UserInputError(f"{path}: file holds no rows")


def _schema(lazy: pl.LazyFrame, path: Path, what: str) -> pl.Schema:
    """The frame's schema, or the error saying the file is not `what`."""
    try:
        return lazy.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as err:
        raise UserInputError(f"{path}: not {what} ({str(err).splitlines()[0]})") from None


def _collect(lazy: pl.LazyFrame, path: Path, what: str) -> pl.DataFrame:
    """Collect a file's frame, or the error saying the file is not `what`."""
    try:
        return lazy.collect()
    except (pl.exceptions.PolarsError, OSError) as err:
        raise UserInputError(f"{path}: not {what} ({str(err).splitlines()[0]})") from None


def pick_columns(
    df: pl.DataFrame, wanted: Mapping[str, str], where: Path | str, optional: Iterable[str] = ()
) -> pl.DataFrame:
    """Select and rename columns: `wanted` maps our name -> the file's name.

    See `resolve_columns` for the matching rules and errors.
    """
    found = resolve_columns(df, wanted, where, optional)
    return df.select(pl.col(theirs).alias(ours) for ours, theirs in found.items())


def resolve_columns(
    df: pl.DataFrame, wanted: Mapping[str, str], where: Path | str, optional: Iterable[str] = ()
) -> dict[str, str]:
    """Find the file's column for each of ours: `wanted` maps our name -> the file's name.

    A file column matching case-insensitively is accepted. Missing required columns raise one
    error listing each, with the closest column name present; missing optional ones are left out.
    """
    by_lower = {c.lower(): c for c in df.columns}
    optional = set(optional)
    found: dict[str, str] = {}
    missing = []
    for ours, theirs in wanted.items():
        actual = theirs if theirs in df.columns else by_lower.get(theirs.lower())
        if actual is not None:
            found[ours] = actual
        elif ours not in optional:
            close = difflib.get_close_matches(theirs, df.columns, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            missing.append(f"{theirs!r}{hint}")
    if missing:
        raise UserInputError(
            f"{where}: missing column(s) {', '.join(missing)}; "
            f"columns found: {', '.join(df.columns)}"
        )
    return found


FILE_COLUMN = "_file"
"""Optional column naming each row's file, when several files are parsed as one frame."""
LINE_COLUMN = "_line"
"""Optional column with each row's line number in its file (header = 1)."""


def _bad_lines(df: pl.DataFrame, bad: pl.Expr, shown: pl.Expr) -> str:
    """Describe the first few offending lines: `line 5: '2020-13-01'` (with the file if known)."""
    if LINE_COLUMN not in df.columns:
        df = df.with_columns(pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias(LINE_COLUMN))
    cols = [pl.col(LINE_COLUMN), shown.alias("_shown")]
    if FILE_COLUMN in df.columns:
        cols.append(pl.col(FILE_COLUMN).str.split("/").list.last())
    rows = df.filter(bad).select(cols).head(EXAMPLES).iter_rows()
    return ", ".join((f"{r[2]} " if len(r) > 2 else "") + f"line {r[0]}: {r[1]!r}" for r in rows)


ZONED = r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})$"
"""A date-time with a time zone or UTC offset (`2010-01-03T16:00:00Z`, `... 00:00+08:00`)."""
_ZONED_FORMATS = ("%Y-%m-%dT%H:%M:%S%#z", "%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z")


def parse_dates(
    df: pl.DataFrame, where: Path | str, fmt: str | None = None, timezone: str | None = None
) -> pl.DataFrame:
    """Turn the `date` column into dates (ISO, `2020/01/31` or `20200131` unless `fmt`).

    A date-time that carries a time zone (text ending in `Z` or an offset, or a zoned Parquet
    column) names an instant, not a trading day: it is converted to the date in `timezone`
    (the market's, e.g. Asia/Shanghai), or refused naming the file, column and an example when
    no `timezone` is given. Taking its first ten characters read `2010-01-03T16:00:00Z` (a
    Shanghai Monday morning) as Sunday. A date-time without a zone is its own local date.
    """
    dtype = df["date"].dtype
    if dtype == pl.Date:
        return df
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return df.with_columns(pl.col("date").dt.date())
        zone = _require_zone(df, where, timezone, f"zoned ({dtype.time_zone}) date-time column")
        return df.with_columns(pl.col("date").dt.convert_time_zone(zone).dt.date())
    text = pl.col("date").cast(pl.String).str.strip_chars()
    zoned = text.str.contains(ZONED)
    if df.select(zoned.any()).item():
        zone = _require_zone(df.filter(zoned), where, timezone, "date-time(s) with a time zone")
        return _dates_in_zone(df, where, text, zoned, zone)
    return _parsed_dates(df, where, text, fmt)


def _require_zone(df: pl.DataFrame, where: Path | str, timezone: str | None, what: str) -> str:
    """The zone to convert instants into, or the refusal naming file, column and example."""
    if timezone:
        return timezone
    example = _bad_lines(df, pl.lit(True), pl.col("date").cast(pl.String))
    raise UserInputError(
        f"{where}: column date holds {what}, e.g. {example}: an instant, not a trading day. "
        "Give the market's time zone (--option timezone=Asia/Shanghai, America/New_York) to "
        "read each as its local date there"
    )


def _dates_in_zone(
    df: pl.DataFrame, where: Path | str, text: pl.Expr, zoned: pl.Expr, zone: str
) -> pl.DataFrame:
    """Zoned rows as their date in `zone`; the other rows parsed as plain dates."""
    iso = text.str.replace(r"\s*(Z|UTC|GMT)$", "+00:00").str.replace(" ", "T")
    instant = pl.coalesce(
        [iso.str.to_datetime(f, strict=False, time_zone="UTC") for f in _ZONED_FORMATS]
    )
    local = instant.dt.convert_time_zone(zone).dt.date()
    if not df.select(zoned.all()).item():
        raise UserInputError(
            f"{where}: column date mixes date-times with a time zone and plain dates, e.g. "
            f"{_bad_lines(df, ~zoned, pl.col('date'))}: one convention per file"
        )
    out = df.with_columns(local.alias("_parsed"))
    bad = pl.col("_parsed").is_null()
    if out.select(bad.sum()).item():
        raise UserInputError(
            f"{where}: date-time(s) with a time zone could not be read, e.g. "
            f"{_bad_lines(out, bad, pl.col('date'))}"
        )
    return out.with_columns(pl.col("_parsed").alias("date")).drop("_parsed")


def plain_dates(text: pl.Expr, fmt: str | None = None) -> pl.Expr:
    """Dates parsed from stripped text: `fmt`, else ISO, `2020/01/31` or `20200131` (null: none).

    A date-time's first ten characters are read as its date (the zone is `parse_dates`' work).
    """
    if fmt:
        return text.str.to_date(fmt, strict=False)
    return pl.coalesce(
        text.str.to_date("%Y-%m-%d", strict=False),
        text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
        text.str.to_date("%Y/%m/%d", strict=False),
        text.str.to_date("%Y%m%d", strict=False),
    )


def _parsed_dates(
    df: pl.DataFrame, where: Path | str, text: pl.Expr, fmt: str | None
) -> pl.DataFrame:
    """Plain dates (no time zone) parsed from text."""
    out = df.with_columns(plain_dates(text, fmt).alias("_parsed"))
    bad = pl.col("_parsed").is_null()
    n_bad = out.select(bad.sum()).item()
    if n_bad:
        how = f" with format {fmt!r}" if fmt else ""
        raise UserInputError(
            f"{where}: {n_bad} date(s) could not be read{how}, "
            f"e.g. {_bad_lines(out, bad, pl.col('date'))}"
        )
    return out.with_columns(pl.col("_parsed").alias("date")).drop("_parsed")


THOUSANDS = r"^-?\d{1,3}(,\d{3})+(\.\d+)?$"
"""A number with thousands grouping (`1,234,567.89`): the only cell whose commas are dropped."""
THOUSANDS_DECIMAL_COMMA = r"^-?\d{1,3}(\.\d{3})+(,\d+)?$"
"""With `decimal=","`: grouping by points and a decimal comma (`1.234.567,89`)."""
AMBIGUOUS_COMMA = r"^-?\d{1,3},\d{3}$"
"""One comma before three digits (`1,234`): 1234 with a thousands comma, 1.234 with a decimal."""
SETTLES_COMMA = r"^-?(\d{1,3}(,\d{3}){2,}(\.\d+)?|\d{1,3}(,\d{3})+\.\d+|\d*\.\d+)$"
"""A cell that reads one way only under a decimal point (`12,345,678`, `1,234.5`, `12.5`)."""
DECIMALS = (".", ",")


def _as_number(name: str, decimal: str = ".") -> tuple[pl.Expr, pl.Expr]:
    """A text column as Float64, and the mask of cells that are neither numbers nor blank.

    A cell is a plain number, or a grouped one matching `THOUSANDS` (`THOUSANDS_DECIMAL_COMMA`
    with `decimal=","`); nothing else is guessed.
    """
    raw = pl.col(name).str.strip_chars()
    if decimal == ".":
        grouped = raw.str.contains(THOUSANDS)
        text = pl.when(grouped).then(raw.str.replace_all(",", "", literal=True)).otherwise(raw)
        stray = raw.str.contains(",", literal=True) & ~grouped
    else:
        grouped = raw.str.contains(THOUSANDS_DECIMAL_COMMA)
        ungrouped = pl.when(grouped).then(raw.str.replace_all(".", "", literal=True)).otherwise(raw)
        stray = raw.str.contains(".", literal=True) & ~grouped
        text = ungrouped.str.replace(",", ".", literal=True)
    number = pl.when(stray).then(None).otherwise(text.cast(pl.Float64, strict=False))
    blank = raw.is_null() | raw.is_in(list(MISSING_TOKENS))
    return number.alias(name), (number.is_null() & ~blank)


def _unsettled_commas(df: pl.DataFrame, name: str) -> pl.Expr:
    """The cells like `1,234` of a column whose file holds no cell that settles the comma."""
    raw = pl.col(name).str.strip_chars()
    settled = raw.str.contains(SETTLES_COMMA).fill_null(False).any()
    if FILE_COLUMN in df.columns:
        settled = settled.over(FILE_COLUMN)
    return raw.str.contains(AMBIGUOUS_COMMA).fill_null(False) & ~settled


def _refuse_ambiguous_commas(df: pl.DataFrame, columns: list[str], where: Path | str) -> None:
    """Raise on a `1,234` that no stated separator and no cell of its file and column settles."""
    for name in columns:
        unsettled = _unsettled_commas(df, name)
        n_bad = df.select(unsettled.sum()).item()
        if n_bad:
            raise UserInputError(
                f"{where}: column {name!r} has {n_bad} value(s) whose comma may be a thousands "
                f"or a decimal separator, e.g. {_bad_lines(df, unsettled, pl.col(name))}: state "
                'it with the source option decimal="." (1,234 is 1234) or decimal="," (1.234)'
            )


def parse_numbers(
    df: pl.DataFrame, columns: Iterable[str], where: Path | str, *, decimal: str | None = None
) -> pl.DataFrame:
    """Turn text columns into Float64, raising on any cell that is not a number.

    Empty or `None` cells become null (later reported by the schema, never dropped).

    Args:
        df: The table with text (or already numeric) columns.
        columns: The columns to convert.
        where: The file (or source) named in errors.
        decimal: The decimal mark, "." (a comma only as `THOUSANDS` grouping) or ",". Not
            stated (None), it is "." but a cell like `1,234` is refused unless a cell of the
            same file and column reads one way only (`12,345,678`, `1,234.5`, `12.5`).
    """
    if decimal is not None and decimal not in DECIMALS:
        raise UserInputError(f"decimal={decimal!r}: the decimal mark must be '.' or ','")
    columns = list(columns)
    text_cols = [c for c in columns if df.schema[c] == pl.String]
    parsed = {c: _as_number(c, decimal or ".") for c in text_cols}
    counts = df.select(bad.sum().alias(c) for c, (_, bad) in parsed.items()) if parsed else None
    if counts is not None:
        for name, n_bad in counts.row(0, named=True).items():
            if n_bad:
                how = (
                    'with decimal=",", a point is read only as grouping (1.234,50)'
                    if decimal == ","
                    else "a comma is read only as thousands grouping (1,234.5); for a decimal "
                    'comma (12,50) pass the option decimal=","'
                )
                raise UserInputError(
                    f"{where}: column {name!r} has {n_bad} value(s) that are not numbers, "
                    f"e.g. {_bad_lines(df, parsed[name][1], pl.col(name))} ({how})"
                )
    if decimal is None:
        _refuse_ambiguous_commas(df, text_cols, where)
    return df.with_columns(
        *[number for number, _ in parsed.values()],
        *[pl.col(c).cast(pl.Float64) for c in columns if c not in parsed],
    )


def check_date_order(df: pl.DataFrame, where: Path | str, *, descending: bool = False) -> None:
    """Raise if dates go backwards within a file (a repeated date is left to the schema).

    With a file column (several files in one frame) the order is checked within each file.
    """
    previous = pl.col("date").shift(1)
    if FILE_COLUMN in df.columns:
        previous = previous.over(FILE_COLUMN)
    back = (pl.col("date") > previous) if descending else (pl.col("date") < previous)
    back = back.fill_null(False)
    if df.select(back.any()).item():
        order = "newest first" if descending else "oldest first"
        raise UserInputError(
            f"{where}: dates out of order (expected {order}) at "
            f"{_bad_lines(df, back, pl.col('date').cast(pl.String))}"
        )
