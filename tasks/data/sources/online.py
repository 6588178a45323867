"""Online sources for the scheduled runs: AkShare A-share history and yfinance US tickers.

Input contract: `akshare-online:CODE[,CODE...]` (6-digit A-share codes) and
`yfinance:TICKER[,TICKER...]`, with `start`/`end` dates (ISO text or dates). `akshare` and
`yfinance` are optional extras (`pip install 'cnnlstm[online]'`), imported only when used.

Each adapter is split in two: a fetch function whose network call is one visible line, and a
pure converter from the library's documented output to bars. Tests (offline here) feed the
converters frames of that documented output: AkShare's `stock_zh_a_hist` frame has the
Chinese headers of the shared AkShare CSV exports (which are exactly that output); yfinance's
`Ticker.history` frame is indexed by `Date` with columns Open, High, Low, Close, Volume,
Dividends, Stock Splits. AkShare prices default to back-adjusted (`hfq`), which, unlike
forward-adjusted prices, never shrink toward zero; the price-limit checks run either way.
"""

from __future__ import annotations

import importlib
from datetime import date
from types import ModuleType
from typing import Any

import polars as pl
from tqdm import tqdm

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.bars import BAR_COLUMNS
from cnnlstm.tasks.data.sources.akshare import akshare_to_bars, from_akshare_frames
from cnnlstm.tasks.data.sources.base import SourceData, summarize
from cnnlstm.tasks.data.sources.files import parse_numbers

YFINANCE_COLUMNS = {
    "Date": "date",
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Volume": "volume",
}


def optional_import(name: str, kind: str) -> ModuleType:
    """Import an optional extra, or say how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise UserInputError(
            f"the {kind} source needs the optional package {name!r}: pip install 'cnnlstm[online]'"
        ) from None


def _codes(path: str) -> list[str]:
    codes = [c.strip() for c in path.split(",") if c.strip()]
    if not codes:
        raise UserInputError("name at least one symbol, e.g. akshare-online:600000,000001")
    return codes


def _as_date(value: date | str | None, default: date) -> date:
    if value is None:
        return default
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise UserInputError(f"not a date (YYYY-MM-DD): {value!r}") from None


def fetch_akshare(code: str, start: date, end: date, adjust: str) -> pl.DataFrame:
    """Download one A-share's daily history with AkShare (`stock_zh_a_hist`)."""
    ak = optional_import("akshare", "akshare-online")
    frame = ak.stock_zh_a_hist(  # the network call
        symbol=code,
        period="daily",
        start_date=f"{start:%Y%m%d}",
        end_date=f"{end:%Y%m%d}",
        adjust=adjust,
    )
    return pl.from_pandas(frame)


def yfinance_to_bars(history: pl.DataFrame, ticker: str) -> pl.DataFrame:
    """Turn a `yfinance.Ticker.history(auto_adjust=True)` frame (Date reset to a column) into bars.

    Prices are split/dividend-adjusted by yfinance; amount is derived as close x volume.
    """
    missing = [c for c in YFINANCE_COLUMNS if c not in history.columns]
    if missing:
        raise UserInputError(
            f"yfinance {ticker}: missing column(s) {', '.join(missing)} "
            f"(got {', '.join(history.columns)})"
        )
    df = history.select(pl.col(k).alias(v) for k, v in YFINANCE_COLUMNS.items())
    if df.schema["date"] != pl.Date:
        df = df.with_columns(
            pl.col("date").dt.replace_time_zone(None).dt.date()
            if isinstance(df.schema["date"], pl.Datetime)
            else pl.col("date").cast(pl.String).str.slice(0, 10).str.to_date(strict=False)
        )
    df = parse_numbers(df, ["open", "high", "low", "close", "volume"], f"yfinance {ticker}")
    return (
        df.with_columns(symbol=pl.lit(ticker.upper()), amount=pl.col("close") * pl.col("volume"))
        .select(BAR_COLUMNS)
        .sort("date")
    )


def fetch_yfinance(ticker: str, start: date, end: date) -> pl.DataFrame:
    """Download one ticker's adjusted daily history with yfinance."""
    yf = optional_import("yfinance", "yfinance")
    frame = yf.Ticker(ticker).history(start=f"{start}", end=f"{end}", auto_adjust=True)  # network
    return pl.from_pandas(frame.reset_index())


def akshare_source(frames: dict[str, pl.DataFrame], *, tolerance: float = 0.05) -> SourceData:
    """Bars from AkShare `stock_zh_a_hist` frames keyed by code (the pure half of the adapter)."""
    bars = [akshare_to_bars(f, f"akshare {code}", symbol=code) for code, f in frames.items()]
    notes = [f"fetched {len(frames)} stock(s) with akshare stock_zh_a_hist"]
    return from_akshare_frames(bars, "akshare-online", notes, tolerance=tolerance)


def yfinance_source(frames: dict[str, pl.DataFrame]) -> SourceData:
    """Bars from yfinance history frames keyed by ticker (the pure half of the adapter)."""
    bars = pl.concat([yfinance_to_bars(f, t) for t, f in frames.items()]).sort("symbol", "date")
    notes = [
        f"fetched {len(frames)} ticker(s) with yfinance (auto-adjusted)",
        "amount derived as close x volume (yfinance has no amount)",
    ]
    return SourceData(bars=bars, benchmark=None, report=summarize(bars, "yfinance", None, notes))


def load(
    kind: str,
    path: str,
    *,
    start: date | str | None = None,
    end: date | str | None = None,
    adjust: str = "hfq",
    tolerance: float = 0.05,
) -> SourceData:
    """Fetch the named symbols' daily bars from AkShare or yfinance."""
    codes = _codes(path)
    first = _as_date(start, date(2005, 1, 1))
    last = _as_date(end, date.today())
    frames: dict[str, Any] = {}
    for code in tqdm(codes, desc=f"fetching {kind}", unit="symbol", disable=len(codes) < 5 or None):
        if kind == "akshare-online":
            frames[code] = fetch_akshare(code, first, last, adjust)
        else:
            frames[code] = fetch_yfinance(code, first, last)
    if kind == "akshare-online":
        return akshare_source(frames, tolerance=tolerance)
    return yfinance_source(frames)


def load_benchmark(kind: str, path: str, symbol: str | None) -> pl.DataFrame:
    """An index fetched online: yfinance `^GSPC`; AkShare indices are not wired yet."""
    if kind != "yfinance":
        raise UserInputError(
            "akshare-online fetches stocks only; use a file benchmark (netease:, qlib:DIR#SYMBOL)"
        )
    ticker = symbol or path
    bars = yfinance_source({ticker: fetch_yfinance(ticker, date(1990, 1, 1), date.today())}).bars
    return bars.select("symbol", "date", "close")
