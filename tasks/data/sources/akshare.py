"""AkShare / Eastmoney daily exports (`stock_zh_a_hist` output), with forward-adjustment checks.

Input contract: UTF-8 CSV files (or frames, for the online adapter) with AkShare's Chinese
headers: 日期 date, 股票代码 code (optional: else the file name), 开盘 open, 收盘 close, 最高 high,
最低 low, 成交量 volume in lots of 100 shares (converted to shares), 成交额 amount in CNY. Other
columns (振幅, 涨跌幅, 涨跌额, 换手率) are not used: 涨跌幅 is derived from the same prices.
Suspended days are missing rows.

Why the checks: forward-adjusted (qfq) prices are the traded prices shifted down by every later
dividend, so far back in a dividend payer's history they shrink toward zero or below, and every
ratio of them (a return) is wrong. Such stretches are detected, per stock, from two signs the
real market cannot produce: a non-positive price, and a close-to-close move beyond the exchange's
daily price limit (10% main board; 20% STAR 688 and, from 2020-08-24, ChiNext 300/301; 30%
Beijing; 5% for symbols named as ST) on a day that is neither in the first `listing_days` of the
series nor a resumption (the previous trading day of the files' calendar missing for the stock).
Because the shift accumulates backwards in time, every row up to the last such sign is distorted:
the whole stretch is returned as `SourceData.suspect`, for ingestion to fail on or quarantine.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import polars as pl
from tqdm import tqdm

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.bars import BAR_COLUMNS
from cnnlstm.tasks.data.sources.base import SourceData, summarize
from cnnlstm.tasks.data.sources.files import (
    check_date_order,
    parse_dates,
    parse_numbers,
    pick_columns,
    read_text_table,
    scan_data_files,
)

AKSHARE_COLUMNS = {
    "date": "日期",
    "symbol": "股票代码",
    "open": "开盘",
    "close": "收盘",
    "high": "最高",
    "low": "最低",
    "volume": "成交量",
    "amount": "成交额",
}
SHARES_PER_LOT = 100
CHINEXT_20PCT_FROM = date(2020, 8, 24)
TICK = 0.01
REASON_NONPOSITIVE = "forward-adjusted price <= 0"
REASON_LIMIT = "daily move beyond the exchange's price limit"
REASON_STRETCH = "forward-adjusted stretch before an impossible price or move"


def akshare_to_bars(
    raw: pl.DataFrame, where: Path | str, symbol: str | None = None, decimal: str | None = None
) -> pl.DataFrame:
    """Turn one AkShare frame (text or typed columns) into bars; volume lots -> shares."""
    optional = ["symbol"] if symbol is not None or "股票代码" not in raw.columns else []
    df = pick_columns(raw, AKSHARE_COLUMNS, where, optional=optional)
    if "symbol" not in df.columns:
        df = df.with_columns(symbol=pl.lit(symbol or Path(str(where)).stem))
    df = df.with_columns(pl.col("symbol").cast(pl.String).str.strip_chars().str.zfill(6))
    df = parse_numbers(
        parse_dates(df, where),
        ["open", "high", "low", "close", "volume", "amount"],
        where,
        decimal=decimal,
    )
    check_date_order(df, where)
    return df.with_columns(pl.col("volume") * SHARES_PER_LOT).select(BAR_COLUMNS)


def price_limit(symbol: pl.Expr, day: pl.Expr, st_symbols: Iterable[str] = ()) -> pl.Expr:
    """The exchange's daily price limit (a fraction) of an A-share on a day."""
    code = symbol.str.slice(-6)
    return (
        pl.when(symbol.is_in(list(st_symbols)))
        .then(0.05)
        .when(code.str.starts_with("688") | code.str.starts_with("689"))
        .then(0.2)
        .when(
            (code.str.starts_with("300") | code.str.starts_with("301"))
            & (day >= CHINEXT_20PCT_FROM)
        )
        .then(0.2)
        .when(code.str.starts_with("8") | code.str.starts_with("4") | code.str.starts_with("92"))
        .then(0.3)
        .otherwise(0.1)
    )


def find_distorted_stretches(
    bars: pl.DataFrame,
    *,
    tolerance: float = 0.05,
    listing_days: int = 5,
    st_symbols: Iterable[str] = (),
) -> pl.DataFrame:
    """Rows of forward-adjusted bars whose prices cannot be true (see the module docstring).

    Args:
        bars: Bars sorted by symbol and date (several stocks: their dates form the calendar).
        tolerance: Relative slack above the limit (0.05: a 10% limit flags moves beyond 10.5%),
            besides one price tick, so that rounding never flags a real limit move.
        listing_days: Leading rows of each series exempt from the limit (new listings).
        st_symbols: Symbols under special treatment (5% limit).

    Returns:
        `symbol`, `date`, `reason` for every row of a distorted stretch (empty if none).
    """
    calendar = bars.select(pl.col("date").unique().sort()).with_row_index("day_no")
    prev_close = pl.col("close").shift(1).over("symbol")
    limit = price_limit(pl.col("symbol"), pl.col("date"), st_symbols)
    allowed = pl.max_horizontal(prev_close * limit * (1 + tolerance), prev_close * limit + TICK)
    flagged = (
        bars.join(calendar, on="date", how="left")
        .with_columns(
            nonpositive=pl.min_horizontal("open", "high", "low", "close") <= 0,
            resumed=(pl.col("day_no") - pl.col("day_no").shift(1).over("symbol")) > 1,
            listing=pl.int_range(pl.len()).over("symbol") < listing_days,
            move=(pl.col("close") - prev_close).abs(),
            allowed=allowed,
        )
        .with_columns(
            beyond=(pl.col("move") > pl.col("allowed"))
            & ~pl.col("listing")
            & ~pl.col("resumed").fill_null(True)
            & (prev_close > 0)
        )
        .with_columns(sign=pl.col("nonpositive") | pl.col("beyond").fill_null(False))
    )
    last_sign = flagged.filter("sign").group_by("symbol").agg(last=pl.col("date").max())
    return (
        flagged.join(last_sign, on="symbol", how="inner")
        .filter(pl.col("date") <= pl.col("last"))
        .select(
            "symbol",
            "date",
            reason=pl.when("nonpositive")
            .then(pl.lit(REASON_NONPOSITIVE))
            .when("beyond")
            .then(pl.lit(REASON_LIMIT))
            .otherwise(pl.lit(REASON_STRETCH)),
        )
    )


def from_akshare_frames(
    frames: list[pl.DataFrame],
    source: str,
    notes: list[str],
    *,
    tolerance: float = 0.05,
    st_symbols: Iterable[str] = (),
) -> SourceData:
    """Bars, report and distorted stretches of AkShare frames already turned into bars."""
    bars = pl.concat(frames).sort("symbol", "date", maintain_order=True)
    suspect = find_distorted_stretches(bars, tolerance=tolerance, st_symbols=st_symbols)
    notes = [*notes, "volume converted from lots of 100 to shares"]
    if suspect.height:
        notes.append(
            f"{suspect.height} row(s) in {suspect['symbol'].n_unique()} stock(s) lie in "
            "forward-adjusted stretches whose returns cannot be true"
        )
    report = summarize(bars, source, None, notes)
    return SourceData(bars=bars, benchmark=None, report=report, suspect=suspect)


def load(
    kind: str,
    path: str,
    *,
    tolerance: float = 0.05,
    st_symbols: list[str] | None = None,
    encoding: str = "utf8",
    decimal: str | None = None,
) -> SourceData:
    """Read AkShare CSV exports (a file or a folder of them).

    Args:
        kind: "akshare".
        path: A CSV file or a folder of per-stock CSV files.
        tolerance: Relative slack above the price limit before a move counts as impossible.
        st_symbols: Symbols under special treatment (5% price limit), if known.
        encoding: The files' text encoding (AkShare exports saved by Excel are often GBK).
        decimal: The numbers' decimal mark, "." or "," (`files.parse_numbers`); needed only
            for a `1,234`-like cell that the rest of its file does not settle.
    """
    scan = scan_data_files(path, (".csv",))
    files = scan.files
    frames = [
        akshare_to_bars(read_text_table(f, encoding=encoding), f, decimal=decimal)
        for f in tqdm(files, desc="reading akshare", unit="file", disable=len(files) < 50 or None)
    ]
    notes = [f"read {len(files)} file(s) from {path}", *filter(None, [scan.note()])]
    return from_akshare_frames(
        frames, f"akshare:{path}", notes, tolerance=tolerance, st_symbols=st_symbols or ()
    )


def load_benchmark(kind: str, path: str, symbol: str | None) -> pl.DataFrame:
    """AkShare stock exports hold no index: point the user to the index sources."""
    raise UserInputError(
        "akshare stock exports hold no benchmark index: use e.g. --benchmark netease:FILE, "
        "qlib:DIR#SH000300 or csv:FILE"
    )
