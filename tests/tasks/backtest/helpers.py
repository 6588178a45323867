"""Tiny hand-made markets for the backtest tests."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from cnnlstm.tasks.backtest.api import MarketArrays, market_arrays

# Two trading days at the end of January, four in February, one in March.
DATES = [
    date(2020, 1, 30),
    date(2020, 1, 31),
    date(2020, 2, 3),
    date(2020, 2, 4),
    date(2020, 2, 5),
    date(2020, 2, 6),
    date(2020, 3, 2),
]
FEB = date(2020, 2, 1)
MAR = date(2020, 3, 1)


def bars_from(
    opens: dict[str, list[float]],
    closes: dict[str, list[float]],
    volume: dict[str, list[float]] | None = None,
    dates: list[date] = DATES,
) -> pl.DataFrame:
    """A bars table from per-symbol open/close lists (NaN close = no row that day)."""
    rows = []
    for sym, close in closes.items():
        for i, d in enumerate(dates):
            if np.isnan(close[i]):
                continue
            o = opens[sym][i]
            v = 1000.0 if volume is None else volume[sym][i]
            # amount = close x volume, as the readers derive it: raw close = amount / volume.
            rows.append((sym, d, o, max(o, close[i]), min(o, close[i]), close[i], v, v * close[i]))
    return pl.DataFrame(
        rows,
        schema=["symbol", "date", "open", "high", "low", "close", "volume", "amount"],
        orient="row",
    )


def flat_market(prices: dict[str, list[float]], dates: list[date] = DATES) -> MarketArrays:
    """Open = close = the given prices."""
    return market_arrays(bars_from(prices, prices, dates=dates))


def selection(month: date, *symbols: str) -> pl.DataFrame:
    """A selection table for one month."""
    return pl.DataFrame(
        {
            "month": [month] * len(symbols),
            "symbol": list(symbols),
            "score": [1.0] * len(symbols),
            "rank": list(range(1, len(symbols) + 1)),
        }
    )
