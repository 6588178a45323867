"""The LSTM's daily windows: 30 trading days x 6 bar fields per (stock, decision day d).

Input contract: the `bars` table (see `tasks/features/panel.py`). Output: `LstmWindows`.

Definitions:
* window of (s, d): the 30 calendar days ending at d (the calendar is every date in `bars`) of
  [open, close, high, low, log1p(amount), log1p(volume)]; each of the 6 columns z-scored within
  the window (a constant column becomes 0). A window exists only when the stock traded
  (volume > 0) on all 30 days: a suspended day has no price of its own, and a window stitched
  across a gap would show a jump that never traded.
* label horizon: a decision on d executes at open(d+1) (`execution="open"`, the default) or at
  close(d) (`execution="close"`) and exits at close(d+5), d+k being the k-th calendar day after d.
  `fwd_return` = exit / entry - 1; `y` = 1 when it is positive, else 0. It is known only when the
  stock trades on the execution day and on d+5 (a stale suspended price is never an exit price).
* nothing in x for (s, d) reads a bar after d; the label reads d+1 .. d+5 by definition.

Windows are gathered by fancy indexing into a strided (no-copy) view of the dense grid, so no
Python object is created per window; building every window of a large universe would not fit in
memory, so `keys=None` samples at most `max_windows_per_month` per calendar month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.features.panel import build_panel

WINDOW_FIELDS = ("open", "close", "high", "low", "amount", "volume")
LOG_FIELDS = ("amount", "volume")
_CHUNK = 100_000  # windows normalised per step: bounds temporary memory


class LstmWindowConfig(BaseModel):
    """How LSTM windows and their labels are built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: int = Field(30, ge=2, description="trading days per window (the paper: 30)")
    horizon: int = Field(5, ge=1, description="label horizon in trading days (the paper: 5)")
    execution: Literal["open", "close"] = Field(
        "open", description="a decision on d trades at open(d+1) or at close(d)"
    )
    max_windows_per_month: int | None = Field(
        2000, ge=1, description="keys=None: sample at most this many windows per month (None: all)"
    )
    seed: int = Field(0, description="seed of the per-month sampling")


@dataclass
class LstmWindows:
    """LSTM inputs, labels and the (symbol, date) each row belongs to.

    Attributes:
        x: (N, window, 6) float32, fields ordered open, close, high, low, amount, volume.
        y: (N,) int64 labels (1: forward return > 0), or None when built without labels.
        keys: pl.DataFrame(symbol, date, fwd_return) row-aligned with x.
        skipped: pl.DataFrame(symbol, date, reason) of requested keys that got no window.
        counts: how many candidate windows each rule kept or left out.
    """

    x: np.ndarray
    y: np.ndarray | None
    keys: pl.DataFrame
    skipped: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={"symbol": pl.Utf8, "date": pl.Date, "reason": pl.Utf8}
        )
    )
    counts: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.x.shape[0])


def forward_returns(
    open_: np.ndarray, close: np.ndarray, *, horizon: int, execution: str
) -> np.ndarray:
    """The LSTM's label return: from a decision on day d's execution price to close(d+horizon).

    `open_` and `close` are (S, D) grids, NaN where the stock did not trade; the entry is
    open(d+1) (`execution="open"`) or close(d) (`"close"`). Returns (S, D), NaN where either end
    is unknown. The LSTM's labels and the report's realized signal outcomes both use this.
    """
    n_d = close.shape[1]
    fwd = np.full(close.shape, np.nan)
    h = horizon
    if n_d > h:
        entry = open_[:, 1 : n_d - h + 1] if execution == "open" else close[:, : n_d - h]
        fwd[:, : n_d - h] = close[:, h:] / entry - 1.0
    return fwd


def _gather(grid: np.ndarray, s_idx: np.ndarray, d_idx: np.ndarray, window: int) -> np.ndarray:
    """Windows ending at (s_idx, d_idx), z-scored within each window: (N, window, 6) float32."""
    if len(s_idx) == 0:
        return np.empty((0, window, grid.shape[2]), dtype=np.float32)
    view = sliding_window_view(grid, window, axis=1)  # (S, D - window + 1, 6, window), no copy
    out = np.empty((len(s_idx), window, grid.shape[2]), dtype=np.float32)
    for a in range(0, len(s_idx), _CHUNK):
        b = min(a + _CHUNK, len(s_idx))
        w = view[s_idx[a:b], d_idx[a:b] - window + 1].astype(np.float64)  # (n, 6, window)
        w -= w.mean(axis=2, keepdims=True)
        std = np.sqrt(np.einsum("nfw,nfw->nf", w, w) / window)[:, :, None]  # (n, 6, 1)
        z = np.divide(w, std, out=np.zeros_like(w), where=std > 1e-12)
        out[a:b] = z.transpose(0, 2, 1)  # (n, window, 6)
    return out


def _sample_per_month(
    flat: np.ndarray, month_of_day: np.ndarray, n_s: int, cfg: LstmWindowConfig
) -> np.ndarray:
    """Keep at most `max_windows_per_month` of the candidate windows per month, at random.

    `flat` holds the candidates as `day * n_s + symbol`, sorted (so each month is one run of
    it). Each candidate draws a priority (one draw for all, in this order); within a month the
    lowest priorities are kept (ties: the earlier candidate). Only the priorities and one
    month's order are held beside `flat`: no per-candidate month, rank or sort key arrays.
    """
    if cfg.max_windows_per_month is None:
        return flat
    rng = np.random.default_rng(cfg.seed)
    priority = rng.integers(0, 2**31, len(flat), dtype=np.int64)
    month_starts = np.flatnonzero(np.diff(month_of_day, prepend=month_of_day[0] - 1))
    bounds = np.searchsorted(flat, month_starts.astype(np.int64) * n_s)
    bounds = np.append(bounds, len(flat))
    kept = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b - a <= cfg.max_windows_per_month:
            kept.append(np.arange(a, b))
        else:
            order = np.argsort(priority[a:b], kind="stable")
            kept.append(a + np.sort(order[: cfg.max_windows_per_month]))
    return flat[np.concatenate(kept)] if kept else flat[:0]


def build_lstm_windows(
    bars: pl.DataFrame,
    cfg: LstmWindowConfig,
    *,
    keys: pl.DataFrame | None = None,
    with_labels: bool = True,
) -> LstmWindows:
    """Build LSTM windows (and labels) as the module docstring defines them.

    Args:
        bars: the `bars` table.
        cfg: the window configuration.
        keys: (symbol, date) pairs to build, in this order; None builds every valid window
            (sampled per month). Requested pairs that get no window are listed in `skipped`.
        with_labels: also return `y`; then only windows with a known label are kept.

    Returns:
        The windows, sorted by (date, symbol) when `keys` is None, else in the order of `keys`.
    """
    # the labels' returns need float64 open and close; the windows are float32, built once
    panel = build_panel(bars, ("open", "close"), stack=WINDOW_FIELDS, log1p=LOG_FIELDS)
    grid = panel.stacked  # (S, D, 6) float32
    n_s, n_d = panel.traded.shape
    w = cfg.window
    run = np.cumsum(panel.traded, axis=1, dtype=np.int32)  # traded days up to d
    full = np.zeros_like(panel.traded)
    if n_d >= w:  # traded days in [d - w + 1, d] == w
        full[:, w - 1 :] = (run[:, w - 1 :] - np.pad(run, ((0, 0), (1, 0)))[:, : n_d - w + 1]) == w
    fwd = forward_returns(
        panel.values["open"], panel.values["close"], horizon=cfg.horizon, execution=cfg.execution
    )
    labelled = ~np.isnan(fwd)

    counts: dict[str, int] = {}
    skipped = None
    if keys is None:
        ok = full & labelled if with_labels else full
        counts["full_windows"] = int(full.sum())
        counts["without_label"] = int((full & ~labelled).sum()) if with_labels else 0
        flat = np.flatnonzero(ok.T.ravel())  # (date, symbol) order: day * n_s + symbol
        kept = _sample_per_month(flat, panel.month_id, n_s, cfg)
        d_idx, s_idx = np.divmod(kept, n_s)
        counts["sampled_out"] = len(flat) - len(kept)
    else:
        s_idx, d_idx, skipped = _locate_keys(keys, panel, full, labelled if with_labels else None)
        counts["requested"] = keys.height
        counts["skipped"] = skipped.height
    counts["windows"] = len(s_idx)

    x = _gather(grid, s_idx, d_idx, w)
    fwd_sel = fwd[s_idx, d_idx]
    out_keys = pl.DataFrame(
        {
            "symbol": pl.Series(panel.symbols[s_idx], dtype=pl.Utf8),
            "date": pl.Series(panel.dates[d_idx], dtype=pl.Date),
            "fwd_return": pl.Series(fwd_sel, dtype=pl.Float64).fill_nan(None),
        }
    )
    y = (fwd_sel > 0).astype(np.int64) if with_labels else None
    result = LstmWindows(x=x, y=y, keys=out_keys, counts=counts)
    if skipped is not None:
        result.skipped = skipped
    return result


def _locate_keys(keys: pl.DataFrame, panel, full: np.ndarray, labelled: np.ndarray | None):
    """Map requested (symbol, date) pairs to grid cells; list those without a window and why."""
    missing = [c for c in ("symbol", "date") if c not in keys.columns]
    if missing:
        raise UserInputError(f"keys lack columns {missing}; they need symbol and date")
    sym = pl.Series(panel.symbols, dtype=pl.Utf8)
    day = pl.Series(panel.dates, dtype=pl.Date)
    k_sym, k_day = keys.get_column("symbol").cast(pl.Utf8), keys.get_column("date").cast(pl.Date)
    s_idx = np.minimum(sym.search_sorted(k_sym).to_numpy(), len(sym) - 1)
    d_idx = np.minimum(day.search_sorted(k_day).to_numpy(), len(day) - 1)
    known_sym = (sym.gather(s_idx) == k_sym).to_numpy()
    known_day = (day.gather(d_idx) == k_day).to_numpy()
    has_window = known_sym & known_day & full[s_idx, d_idx]
    has_label = np.ones_like(has_window) if labelled is None else labelled[s_idx, d_idx]
    reason = np.select(
        [~known_sym, ~known_day, ~has_window, ~has_label],
        [
            "symbol not in bars",
            "date not in the calendar",
            "not traded on every day of the window",
            "label not known (execution or exit day missing or suspended)",
        ],
        default="",
    )
    keep = reason == ""
    skipped = pl.DataFrame(
        {"symbol": k_sym.filter(~keep), "date": k_day.filter(~keep), "reason": reason[~keep]},
        schema={"symbol": pl.Utf8, "date": pl.Date, "reason": pl.Utf8},
    )
    return s_idx[keep], d_idx[keep], skipped
