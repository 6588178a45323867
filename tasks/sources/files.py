"""Reading users' data files with errors a user can act on.

Every reader of a file-based source goes through these helpers, so that an empty file, a wrong
encoding, a missing or misspelled column, an unreadable date or number, or dates out of order
raise `UserInputError` naming the file, the column and the first offending lines, never a
traceback from inside polars. Row numbers in messages are the file's line numbers (header = 1).
Values are read as text and converted here, so that nothing is silently turned into null.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

import polars as pl

from cnnlstm.errors import UserInputError

MISSING_TOKENS = ("", "None", "none", "null", "NULL", "NaN", "nan", "-", "--")
"""Cell texts that mean "no value" (read as null, then reported by the schema if required)."""
EXAMPLES = 3


def data_files(path: Path | str, suffixes: Iterable[str]) -> list[Path]:
    """The data files at `path`: the file itself, or a folder's files with one of `suffixes`."""
    path = Path(path).expanduser()
    suffixes = tuple(s.lower() for s in suffixes)
    if not path.exists():
        raise UserInputError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise UserInputError(f"{path}: folder holds no data files ({', '.join(suffixes)})")
    return files


def read_text_table(path: Path, *, encoding: str = "utf8") -> pl.DataFrame:
    """Read a CSV file with every column as text; raise a clear error if it cannot be read."""
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
    try:
        df = pl.read_csv(text.encode(), infer_schema=False)
    except pl.exceptions.PolarsError as err:
        first = str(err).splitlines()[0]
        raise UserInputError(f"{path}: not a readable CSV table ({first})") from None
    if df.height == 0:
        raise UserInputError(f"{path}: file has a header but no rows")
    return df


def read_parquet_table(path: Path) -> pl.DataFrame:
    """Read a Parquet file; raise a clear error if it cannot be read or holds no rows."""
    try:
        df = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as err:
        first = str(err).splitlines()[0]
        raise UserInputError(f"{path}: not a readable Parquet file ({first})") from None
    if df.height == 0:
        raise UserInputError(f"{path}: file holds no rows")
    return df


def pick_columns(
    df: pl.DataFrame, wanted: Mapping[str, str], where: Path | str, optional: Iterable[str] = ()
) -> pl.DataFrame:
    """Select and rename columns: `wanted` maps our name -> the file's name.

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
    return df.select(pl.col(theirs).alias(ours) for ours, theirs in found.items())


def _bad_lines(bad: pl.Series, values: pl.Series) -> str:
    """Describe the first few offending lines: `line 5: '2020-13-01'`."""
    idx = bad.arg_true().head(EXAMPLES).to_list()
    return ", ".join(f"line {i + 2}: {values[i]!r}" for i in idx)


def parse_dates(df: pl.DataFrame, where: Path | str, fmt: str | None = None) -> pl.DataFrame:
    """Turn the text `date` column into dates (ISO, `2020/01/31` or `20200131` unless `fmt`)."""
    if df["date"].dtype == pl.Date:
        return df
    if df["date"].dtype == pl.Datetime:
        return df.with_columns(pl.col("date").dt.date())
    text = pl.col("date").cast(pl.String).str.strip_chars()
    if fmt:
        parsed = text.str.to_date(fmt, strict=False)
    else:
        parsed = pl.coalesce(
            text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
            text.str.to_date("%Y/%m/%d", strict=False),
            text.str.to_date("%Y%m%d", strict=False),
        )
    dates = df.select(parsed.alias("date")).to_series()
    bad = dates.is_null()
    if bad.any():
        how = f" with format {fmt!r}" if fmt else ""
        raise UserInputError(
            f"{where}: {int(bad.sum())} date(s) could not be read{how}, "
            f"e.g. {_bad_lines(bad, df['date'])}"
        )
    return df.with_columns(dates)


def parse_numbers(df: pl.DataFrame, columns: Iterable[str], where: Path | str) -> pl.DataFrame:
    """Turn text columns into Float64, raising on any cell that is not a number.

    Empty or `None` cells become null (later reported by the schema, never dropped).
    """
    out = []
    for name in columns:
        col = df[name]
        if col.dtype != pl.String:
            out.append(col.cast(pl.Float64))
            continue
        text = col.str.strip_chars().str.replace_all(",", "")
        blank = text.is_in(list(MISSING_TOKENS)) | text.is_null()
        number = text.cast(pl.Float64, strict=False)
        bad = number.is_null() & ~blank
        if bad.any():
            raise UserInputError(
                f"{where}: column {name!r} has {int(bad.sum())} value(s) that are not numbers, "
                f"e.g. {_bad_lines(bad, col)}"
            )
        out.append(number.alias(name))
    return df.with_columns(out)


def check_date_order(df: pl.DataFrame, where: Path | str, *, descending: bool = False) -> None:
    """Raise if the file's dates go backwards (a duplicate date is left to the schema's check)."""
    dates = df["date"]
    previous = dates.shift(1)
    bad = ((dates > previous) if descending else (dates < previous)).fill_null(False)
    if bad.any():
        order = "newest first" if descending else "oldest first"
        raise UserInputError(
            f"{where}: dates out of order (expected {order}) at "
            f"{_bad_lines(bad, dates.cast(pl.String))}"
        )
