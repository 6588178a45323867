"""Dense (stock x trading day) arrays built from the `bars` table, shared by both feature builders.

Input contract: the `bars` table (`symbol` Utf8, `date` Date, `open high low close volume amount`
Float64), unique per (symbol, date). The market calendar is every date that occurs in `bars`. A
suspended day is a missing row or a row with `volume == 0`; both count as "not traded", and a
not-traded day never contributes a price to a return (its price is stale or absent).

Why dense arrays: a universe of a few thousand stocks over a decade is a few thousand by a few
thousand cells, so a (symbol, day) grid is small (tens of MB per column) and makes every window and
lag a plain index operation that cannot cross a gap unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from cnnlstm.core.errors import UserInputError

BAR_FIELDS = ("open", "high", "low", "close", "volume", "amount")


@dataclass(frozen=True)
class Panel:
    """The bars laid out on a (symbol, calendar day) grid.

    Attributes:
        symbols: sorted symbols, row order of every array.
        dates: sorted market calendar (numpy datetime64[D]), column order of every array.
        traded: (S, D) bool, True where a row exists with volume > 0.
        present: (S, D) bool, True where a row exists at all (traded or suspended).
        values: field name -> (S, D) array of that field; NaN where not traded.
        stacked: (S, D, F) array of the `stack` fields of `build_panel` (each transformed as
            asked), in the dtype its consumer needs; None when none was asked for.
    """

    symbols: np.ndarray
    dates: np.ndarray
    traded: np.ndarray
    present: np.ndarray
    values: dict[str, np.ndarray]
    stacked: np.ndarray | None = None

    @property
    def month_id(self) -> np.ndarray:
        """(D,) int month number of each calendar date: year * 12 + month - 1."""
        ym = self.dates.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
        return ym + 1970 * 12


def check_bars(bars: pl.DataFrame) -> None:
    """Raise `UserInputError` when `bars` misses columns or carries unusable prices.

    Args:
        bars: the `bars` table.

    Raises:
        UserInputError: naming the missing columns, or the count and first rows of non-positive
            prices on traded days (duplicated pairs are caught by `build_panel`).
    """
    missing = [c for c in ("symbol", "date", *BAR_FIELDS) if c not in bars.columns]
    if missing:
        raise UserInputError(f"bars table lacks columns {missing}; it has {bars.columns}")
    if bars.height == 0:
        raise UserInputError("bars table is empty: no features can be built")
    bad = bars.filter(
        (pl.col("volume") > 0)
        & pl.any_horizontal([~(pl.col(c) > 0) for c in ("open", "high", "low", "close")])
    )
    if bad.height:
        example = bad.select("symbol", "date", "open", "high", "low", "close").head(5)
        raise UserInputError(
            f"{bad.height} traded bars have a non-positive or missing price (open/high/low/close);"
            " a ratio of such prices is not a return (forward-adjusted history?). Quarantine them"
            f" at ingestion. First rows:\n{example}"
        )


def _raise_duplicates(bars: pl.DataFrame) -> None:
    """Raise `UserInputError` naming the duplicated (symbol, date) pairs of `bars`."""
    dup = bars.select("symbol", "date").is_duplicated()
    example = bars.filter(dup).select("symbol", "date").head(5)
    raise UserInputError(
        f"bars has {int(dup.sum())} rows with a duplicated (symbol, date):\n{example}"
    )


def build_panel(
    bars: pl.DataFrame,
    fields: tuple[str, ...],
    dtype=np.float64,
    *,
    stack: tuple[str, ...] = (),
    log1p: tuple[str, ...] = (),
    stack_dtype=np.float32,
) -> Panel:
    """Lay `bars` out on the dense (symbol, calendar day) grid.

    Args:
        bars: the `bars` table (checked with `check_bars` first).
        fields: which bar columns to lay out, each as its own (S, D) array in `dtype`.
        dtype: numpy dtype of the value arrays.
        stack: bar columns laid out side by side in one (S, D, len(stack)) array
            (`Panel.stacked`), built once in `stack_dtype`: no full-size copy in another dtype.
        log1p: those of `stack` stored as log1p(value) (computed in float64, then cast).
        stack_dtype: numpy dtype of `Panel.stacked`.

    Returns:
        The `Panel`; a field's cell is NaN where the stock did not trade that day.
    """
    check_bars(bars)
    symbol = bars.get_column("symbol")
    symbols = symbol.unique().sort()
    if symbol.is_sorted():  # the usual (symbol, date) order: run ids are the sorted positions
        s_idx = symbol.rle_id().to_numpy()
    else:
        s_idx = (
            bars.select("symbol")
            .join(
                pl.DataFrame({"symbol": symbols}).with_row_index("s"),
                on="symbol",
                how="left",
                maintain_order="left",
            )
            .get_column("s")
            .to_numpy()
        )
    day = bars.get_column("date").to_physical().to_numpy()  # days since 1970-01-01
    first_day = day.min()
    has_bar = np.bincount(day - first_day) > 0  # (days spanned,)
    calendar = np.flatnonzero(has_bar) + first_day  # the market calendar, as day numbers
    d_idx = (np.cumsum(has_bar) - 1)[day - first_day]  # position of each row's date in it
    shape = (symbols.len(), len(calendar))
    present = np.zeros(shape, dtype=bool)
    present[s_idx, d_idx] = True
    if int(present.sum()) != bars.height:
        _raise_duplicates(bars)
    traded = np.zeros(shape, dtype=bool)
    is_traded = (bars.get_column("volume") > 0).fill_null(False).to_numpy()
    traded[s_idx[is_traded], d_idx[is_traded]] = True
    values = {}
    for field in fields:
        grid = np.full(shape, np.nan, dtype=dtype)
        column = bars.get_column(field).cast(pl.Float64).to_numpy()
        grid[s_idx[is_traded], d_idx[is_traded]] = column[is_traded]
        values[field] = grid
    stacked = None
    if stack:
        stacked = np.full((*shape, len(stack)), np.nan, dtype=stack_dtype)
        rows, cols = s_idx[is_traded], d_idx[is_traded]
        for k, field in enumerate(stack):
            column = bars.get_column(field).cast(pl.Float64).to_numpy()[is_traded]
            stacked[rows, cols, k] = np.log1p(column) if field in log1p else column
    return Panel(
        symbols=symbols.to_numpy(),
        dates=calendar.astype("datetime64[D]"),
        traded=traded,
        present=present,
        values=values,
        stacked=stacked,
    )
