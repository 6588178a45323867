"""Validate a table against its pandera schema and explain every failure in plain words.

Input contract: a collected polars DataFrame and a pandera polars `DataFrameModel` (e.g.
`cnnlstm.schemas.bars.BarsSchema`). Validation is lazy and complete: every failing check is reported
with its count of rows and a few example rows (symbol, date and the offending values).

Columns are checked and coerced here rather than inside pandera because pandera stops with a
deep polars traceback on a missing column and reports a failed cast without naming the rows.
A missing or extra column is a problem of the whole table and always fails; row-level failures
either fail (`on_invalid="fail"`, the default) or are written with their reasons to a quarantine
file and removed (`on_invalid="quarantine"`), with the count in the returned outcome. Nothing is
dropped silently and nothing is repaired.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandera.errors
import pandera.polars as pa
import polars as pl

from cnnlstm.core.errors import DataValidationError

OnInvalid = Literal["fail", "quarantine"]
EXAMPLES_PER_CHECK = 3
_KEY_COLUMNS = ("symbol", "date")
_FAILURE_SCHEMA = {"row": pl.Int64, "column": pl.String, "check": pl.String}


@dataclass(frozen=True)
class ValidationOutcome:
    """The valid rows of a table, and what was set aside."""

    valid: pl.DataFrame
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    quarantine_path: Path | None = None
    report: str = ""


def validate_table(
    df: pl.DataFrame,
    schema: type[pa.DataFrameModel],
    *,
    table: str,
    on_invalid: OnInvalid = "fail",
    quarantine_path: Path | str | None = None,
) -> ValidationOutcome:
    """Validate `df` against `schema`, failing or quarantining the rows that break it.

    Args:
        df: The collected table to validate.
        schema: The pandera polars DataFrameModel the table must satisfy.
        table: The table's name in messages (e.g. "bars", "benchmark").
        on_invalid: "fail" raises on any invalid row; "quarantine" writes invalid rows with
            their reasons to `quarantine_path` and returns the rest.
        quarantine_path: Where rejected rows go (`.parquet`, else CSV); required with
            `on_invalid="quarantine"` (the caller owns file locations, e.g. the store's folder).

    Returns:
        The valid rows, coerced to the schema's dtypes and column order, with the count and
        reasons of the rows set aside.

    Raises:
        DataValidationError: a column is missing or unexpected, or rows are invalid in "fail" mode.
    """
    if on_invalid not in ("fail", "quarantine"):
        raise DataValidationError(f"on_invalid must be 'fail' or 'quarantine', not {on_invalid!r}")
    model = schema.to_schema()
    dtypes = {name: col.dtype.type for name, col in model.columns.items()}
    _check_columns(df, dtypes, table, strict=bool(model.strict))
    df = df.select(list(dtypes))
    coerced, cast_failures = _coerce(df, dtypes)
    checked = _pandera_failures(coerced, schema, model, table)
    # A value that could not be read is null after the cast: report it once, as unreadable.
    checked = checked.join(cast_failures, on=["row", "column"], how="anti")
    failures = pl.concat([cast_failures, checked])
    if failures.height == 0:
        return ValidationOutcome(valid=coerced)

    reasons = _reasons(failures)
    report = _report(df, failures, table, reasons)
    if on_invalid == "fail":
        raise DataValidationError(report, failures=failures)

    bad_rows = failures.group_by("row").agg(
        pl.col("check").unique(maintain_order=True).str.join("; ").alias("reasons")
    )
    path = _write_quarantine(df, bad_rows, table, quarantine_path)
    valid = (
        coerced.with_row_index("row")
        .join(bad_rows.select(pl.col("row").cast(pl.UInt32)), on="row", how="anti")
        .drop("row")
    )
    return ValidationOutcome(
        valid=valid,
        rejected=bad_rows.height,
        reasons=reasons,
        quarantine_path=path,
        report=report + f"\n{bad_rows.height} row(s) written to quarantine file {path}",
    )


def _check_columns(
    df: pl.DataFrame, dtypes: dict[str, pl.DataType], table: str, *, strict: bool
) -> None:
    """Raise naming every missing column (with the closest present name) and every extra one."""
    missing = [c for c in dtypes if c not in df.columns]
    extra = [c for c in df.columns if c not in dtypes] if strict else []
    if not missing and not extra:
        return
    lines = [f"{table} has the wrong columns (expected {', '.join(dtypes)}):"]
    for name in missing:
        close = difflib.get_close_matches(name, df.columns, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        lines.append(f"  - missing column {name!r}{hint}")
    lines += [f"  - unexpected column {name!r}" for name in extra]
    lines.append(f"  columns found: {', '.join(df.columns) or '(none)'}")
    raise DataValidationError("\n".join(lines))


def _coerce(df: pl.DataFrame, dtypes: dict[str, pl.DataType]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cast every column to its schema dtype; list the rows whose value cannot be read."""
    try:
        coerced = df.with_columns(_cast(n, df.schema[n], dtype) for n, dtype in dtypes.items())
    except pl.exceptions.PolarsError as err:
        found = ", ".join(f"{n} {df.schema[n]}" for n in dtypes if df.schema[n] != dtypes[n])
        raise DataValidationError(
            f"columns cannot be converted to the expected types ({found}): {err}".splitlines()[0]
        ) from None
    parts = []
    for name, dtype in dtypes.items():
        lost = coerced[name].is_null() & df[name].is_not_null()
        if lost.any():
            rows = pl.Series("row", range(df.height), dtype=pl.Int64).filter(lost)
            parts.append(
                pl.DataFrame({"row": rows})
                .with_columns(column=pl.lit(name), check=pl.lit(f"{name}: not readable as {dtype}"))
                .cast(_FAILURE_SCHEMA)
            )
    return coerced, pl.concat(parts) if parts else pl.DataFrame(schema=_FAILURE_SCHEMA)


def _cast(name: str, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """Cast one column leniently (unreadable values become null and are reported)."""
    if source == pl.String and target == pl.Date:
        return pl.col(name).str.to_date(strict=False)
    return pl.col(name).cast(target, strict=False)


_CHECK_WORDS = [
    (re.compile(r"^not_nullable$"), "missing (null or NaN)"),
    (re.compile(r"^greater_than\((.*)\)$"), r"must be > \1"),
    (re.compile(r"^greater_than_or_equal_to\((.*)\)$"), r"must be >= \1"),
    (re.compile(r"^less_than\((.*)\)$"), r"must be < \1"),
    (re.compile(r"^less_than_or_equal_to\((.*)\)$"), r"must be <= \1"),
    (re.compile(r"^str_length\(.*\)$"), "must not be empty"),
]


def _words(check: str) -> str:
    """Say a pandera check name in words (e.g. `greater_than(0)` -> `must be > 0`)."""
    for pattern, words in _CHECK_WORDS:
        if pattern.match(check):
            return pattern.sub(words, check)
    return check


def _pandera_failures(
    df: pl.DataFrame, schema: type[pa.DataFrameModel], model: pa.DataFrameSchema, table: str
) -> pl.DataFrame:
    """Run pandera lazily; return one row per (row, failed check) with a readable check name."""
    try:
        schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as err:
        cases = err.failure_cases
    except pandera.errors.SchemaError as err:  # pragma: no cover - lazy mode collects these
        raise DataValidationError(f"{table} failed validation: {err}") from None
    else:
        return pl.DataFrame(schema=_FAILURE_SCHEMA)

    whole_table = cases.filter(pl.col("index").is_null())
    if whole_table.height:
        problems = [
            f"  - {r['check']}: {r['failure_case']}" for r in whole_table.iter_rows(named=True)
        ]
        raise DataValidationError(f"{table} failed validation:\n" + "\n".join(problems))

    unique_cols = ", ".join(model.unique or [])
    words = {name: _words(name) for name in cases["check"].unique().to_list()}
    is_column = pl.col("schema_context") == "Column"
    check = (
        pl.when(is_column & (pl.col("check") == "field_uniqueness"))
        .then(pl.format("duplicate {}", pl.col("column")))
        .when(is_column)
        .then(
            pl.format(
                "{}: {}",
                pl.col("column"),
                pl.col("check").replace(words),
            )
        )
        .when(pl.col("check") == "multiple_fields_uniqueness")
        .then(pl.lit(f"duplicate ({unique_cols})"))
        .otherwise(pl.col("check"))
    )
    return cases.select(
        row=pl.col("index").cast(pl.Int64),
        column=pl.when(is_column).then(pl.col("column")),
        check=check,
    ).cast(_FAILURE_SCHEMA)


def _reasons(failures: pl.DataFrame) -> dict[str, int]:
    """Count the distinct failing rows of every check, in order of first appearance."""
    counts = failures.group_by("check", maintain_order=True).agg(pl.col("row").n_unique())
    return dict(counts.iter_rows())


def _report(df: pl.DataFrame, failures: pl.DataFrame, table: str, reasons: dict[str, int]) -> str:
    """A readable report: every failing check with its count and a few example rows."""
    n_bad = failures["row"].n_unique()
    lines = [
        f"{table} failed validation: {n_bad} of {df.height} row(s) break {len(reasons)} check(s):"
    ]
    keys = [c for c in _KEY_COLUMNS if c in df.columns]
    for check, count in reasons.items():
        these = failures.filter(pl.col("check") == check)
        column = these["column"][0]
        shown = [column] if column is not None else [c for c in df.columns if c not in keys]
        rows = these["row"].unique(maintain_order=True).head(EXAMPLES_PER_CHECK).to_list()
        examples = df[rows, :].select(*keys, *[c for c in shown if c not in keys])
        lines.append(f"  - {check}: {count} row(s), e.g.")
        for row, values in zip(rows, examples.iter_rows(named=True), strict=True):
            text = " ".join(f"{k}={v}" for k, v in values.items())
            lines.append(f"      row {row}: {text}")
    return "\n".join(lines)


def _write_quarantine(
    df: pl.DataFrame, bad_rows: pl.DataFrame, table: str, path: Path | str | None
) -> Path:
    """Write the rejected rows (as given, with their row number and reasons); return the path."""
    if path is None:
        raise DataValidationError(
            f"{table}: on_invalid='quarantine' needs a quarantine_path for the rejected rows"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rejected = (
        df.with_row_index("row")
        .with_columns(pl.col("row").cast(pl.Int64))
        .join(bad_rows, on="row", how="inner")
        .sort("row")
    )
    if path.suffix == ".parquet":
        rejected.write_parquet(path)
    else:
        rejected.write_csv(path)
    return path
