"""NetEase 163 index exports, used as the benchmark.

Input contract: a GBK-encoded CSV, newest row first, with the columns
`日期,股票代码,名称,收盘价,...,成交量,...`; codes carry a leading apostrophe (`'000905`) and empty
cells or the text `None` stand for missing values. Only the close is needed. Rows whose close is
missing are an error (named by line), never skipped. Early zero-volume rows are the index's
back-calculated history before trading began; they are kept, as their closes are the official
index levels (the benchmark uses closes only).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.bars import BENCHMARK_COLUMNS
from cnnlstm.tasks.data.sources.files import (
    check_date_order,
    data_files,
    parse_dates,
    parse_numbers,
    pick_columns,
    read_text_table,
)

NETEASE_COLUMNS = {"date": "日期", "symbol": "股票代码", "close": "收盘价", "volume": "成交量"}


def read_index_file(path: Path, encoding: str = "gbk") -> pl.DataFrame:
    """Read one NetEase index file oldest first: `symbol`, `date`, `close`, `volume`."""
    raw = read_text_table(path, encoding=encoding)
    df = pick_columns(raw, NETEASE_COLUMNS, path, optional=("volume",))
    df = df.with_columns(pl.col("symbol").str.strip_chars().str.strip_chars_start("'"))
    df = parse_numbers(parse_dates(df, path), [c for c in ("close", "volume") if c in df], path)
    check_date_order(df, path, descending=True)
    missing = df["close"].is_null()
    if missing.any():
        lines = ", ".join(str(i + 2) for i in missing.arg_true().head(3).to_list())
        raise UserInputError(f"{path}: {int(missing.sum())} row(s) without a close (lines {lines})")
    return df.reverse()


def load(kind: str, path: str, **options) -> None:
    """NetEase files hold an index: they are a benchmark, not a source of stocks."""
    raise UserInputError(
        f"netease:{path} holds an index, not stocks: pass it as --benchmark netease:{path}"
    )


def load_benchmark(kind: str, path: str, symbol: str | None) -> pl.DataFrame:
    """Read a NetEase index CSV as the benchmark (`symbol` overrides the file's code)."""
    files = data_files(path, (".csv",))
    if len(files) != 1:
        raise UserInputError(f"benchmark netease:{path} must be one file, found {len(files)}")
    df = read_index_file(files[0])
    if symbol:
        df = df.with_columns(symbol=pl.lit(symbol))
    return df.select(BENCHMARK_COLUMNS)
