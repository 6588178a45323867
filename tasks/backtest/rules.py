"""Dated market rules as data: typed rows, and their resolution into the kernel's arrays.

A `RuleTable` holds rows of five kinds, each in force from its `start` date until the next row
of the same key starts (the key is the board and status for limits, the exchange for transfer
fees, the board for lots and listings; stamp duty has one key):

* `LimitRule` (board, status, start, band): the daily price band around the previous close
  (0.10 = +-10%); `band=None` means no limit.
* `NewListingRule` (board, start, free_days): a stock listed on or after `start` trades its
  first `free_days` sessions without a band (the rule in force on its listing day applies).
* `StampDutyRule` (start, buy, sell): fractions of the traded value.
* `TransferFeeRule` (exchange, start, rate, per_share): a fraction of the value plus an amount
  per (real) share.
* `LotRule` (board, start, buy_min, buy_step): a buy is at least `buy_min` shares and then
  steps of `buy_step`; a sell may be any whole remainder (odd lots are sold in one go).

Boards are read from the stock code (`board_of`): SH 688/689 STAR, SZ 300/301 ChiNext, Beijing
(codes 4xxxxx, 8xxxxx, 92xxxx or a `BJ` prefix), every other code the main board; a code the
rules cannot place (e.g. simulated `SIM0001`) counts as main board. Status (`st`) comes from
an optional user table of (symbol, start, end, status) rows (`StatusPeriod`).

A user extends or overrides the table with `RuleTable.extended(rows)`: a row with the same key
and start as a built-in one replaces it; any other row is added. The built-in A-share table is
`cnnlstm.tasks.backtest.rules_cn.CN_RULES`, each row naming its source.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError

Board = Literal["main", "chinext", "star", "bse"]
Exchange = Literal["SH", "SZ", "BJ"]
BOARDS: tuple[str, ...] = ("main", "chinext", "star", "bse")
EXCHANGES: tuple[str, ...] = ("SH", "SZ", "BJ")

_CODE = re.compile(r"(\d{6})")


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: date
    source: str = Field("user", description="where the rule comes from")


class LimitRule(_Row):
    """A daily price band by board and status (None: no limit)."""

    board: Board
    status: Literal["normal", "st"] = "normal"
    band: float | None = Field(..., gt=0, lt=1)


class NewListingRule(_Row):
    """A new listing's first sessions without a price band."""

    board: Board
    free_days: int = Field(..., ge=0, le=60)


class StampDutyRule(_Row):
    """Stamp duty on each side, fractions of the traded value."""

    buy: float = Field(..., ge=0, lt=0.05)
    sell: float = Field(..., ge=0, lt=0.05)


class TransferFeeRule(_Row):
    """Transfer fee of one exchange: a fraction of value plus an amount per real share."""

    exchange: Exchange
    rate: float = Field(0.0, ge=0, lt=0.01)
    per_share: float = Field(0.0, ge=0, lt=0.1)


class LotRule(_Row):
    """Buy lots of a board: at least `buy_min` shares, then steps of `buy_step`."""

    board: Board
    buy_min: int = Field(..., ge=1)
    buy_step: int = Field(..., ge=1)


class StatusPeriod(BaseModel):
    """A stock's special-treatment status over [start, end] (end None: still in force)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(..., min_length=1)
    start: date
    end: date | None = None
    status: Literal["st"] = "st"


class RuleTable(BaseModel):
    """Every dated rule of one market (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limits: tuple[LimitRule, ...] = ()
    new_listings: tuple[NewListingRule, ...] = ()
    stamp_duty: tuple[StampDutyRule, ...] = ()
    transfer_fees: tuple[TransferFeeRule, ...] = ()
    lots: tuple[LotRule, ...] = ()

    def extended(self, other: RuleTable) -> RuleTable:
        """This table with `other`'s rows added; a row of the same key and start replaces."""
        merged = {}
        for name, key in _KEYS.items():
            rows = {(*key(r), r.start): r for r in getattr(self, name)}
            rows.update({(*key(r), r.start): r for r in getattr(other, name)})
            merged[name] = tuple(sorted(rows.values(), key=lambda r: r.start))
        return RuleTable(**merged)

    def is_empty(self) -> bool:
        """No row of any kind."""
        return not any(getattr(self, name) for name in _KEYS)


_KEYS = {
    "limits": lambda r: (r.board, r.status),
    "new_listings": lambda r: (r.board,),
    "stamp_duty": lambda r: (),
    "transfer_fees": lambda r: (r.exchange,),
    "lots": lambda r: (r.board,),
}


def board_of(symbol: str) -> str:
    """The board of an A-share code (`SH688001` star, `SZ300750` chinext, ...; else main)."""
    upper = symbol.upper()
    match = _CODE.search(upper)
    if upper.startswith("BJ") or upper.endswith(".BJ"):
        return "bse"
    if match is None:
        return "main"
    code = match.group(1)
    if code.startswith(("688", "689")):
        return "star"
    if code.startswith(("300", "301")):
        return "chinext"
    if code.startswith(("4", "8", "92")):
        return "bse"
    return "main"


def exchange_of(symbol: str) -> str:
    """The exchange of an A-share code (SH for 6xxxxx / an SH prefix, BJ, else SZ)."""
    upper = symbol.upper()
    if upper.startswith("SH") or upper.endswith(".SH"):
        return "SH"
    if upper.startswith("SZ") or upper.endswith(".SZ"):
        return "SZ"
    if board_of(upper) == "bse":
        return "BJ"
    match = _CODE.search(upper)
    return "SH" if match is not None and match.group(1).startswith("6") else "SZ"


def _in_force(rows: list, dates: np.ndarray) -> np.ndarray:
    """(T,) index into `rows` (sorted by start) of the row in force each day; -1 before any."""
    starts = np.array([np.datetime64(r.start, "D") for r in rows], dtype="datetime64[D]")
    return np.searchsorted(starts, dates, side="right") - 1


def _dates64(dates: list[date]) -> np.ndarray:
    return np.array(dates, dtype="datetime64[D]")


def price_bands(
    table: RuleTable,
    dates: list[date],
    symbols: list[str],
    *,
    status: tuple[StatusPeriod, ...] = (),
    listing_day: np.ndarray | None = None,
    session_no: np.ndarray | None = None,
) -> np.ndarray:
    """(T, N) price band of each stock each day (NaN: no limit).

    Args:
        table: The rules.
        dates: The calendar.
        symbols: The stocks.
        status: ST periods; a stock in one uses its board's `st` rule (its `normal` rule where
            the board has no `st` row in force).
        listing_day: (N,) each stock's listing date as datetime64[D] (NaT: unknown, e.g. listed
            before the data start); with `session_no`, its first sessions may be band-free.
        session_no: (T, N) the stock's own traded-session number (0 = its first bar).
    """
    days = _dates64(dates)
    boards = np.array([board_of(s) for s in symbols])
    out = np.full((len(dates), len(symbols)), np.nan)
    st_mask = np.zeros(out.shape, dtype=bool)
    col = {s: j for j, s in enumerate(symbols)}
    for period in status:
        j = col.get(period.symbol.upper(), col.get(period.symbol))
        if j is None:
            continue
        end = np.datetime64(period.end or date.max, "D")
        st_mask[:, j] |= (days >= np.datetime64(period.start, "D")) & (days <= end)
    for board in BOARDS:
        cols = np.flatnonzero(boards == board)
        if cols.size == 0:
            continue
        for kind in ("normal", "st"):
            rows = sorted(
                (r for r in table.limits if r.board == board and r.status == kind),
                key=lambda r: r.start,
            )
            if not rows:
                continue
            idx = _in_force(rows, days)
            band = np.array([np.nan if r.band is None else r.band for r in rows])
            daily = np.where(idx >= 0, band[np.maximum(idx, 0)], np.nan)
            if kind == "normal":
                out[:, cols] = daily[:, None]
            else:
                has = (idx >= 0)[:, None] & st_mask[:, cols]
                out[:, cols] = np.where(has, daily[:, None], out[:, cols])
        free = sorted((r for r in table.new_listings if r.board == board), key=lambda r: r.start)
        if free and listing_day is not None and session_no is not None:
            known = ~np.isnat(listing_day[cols])
            idx = np.full(cols.size, -1)
            idx[known] = _in_force(free, listing_day[cols][known])
            n_free = np.where(idx >= 0, np.array([r.free_days for r in free])[idx], 0)
            exempt = session_no[:, cols] < n_free[None, :]
            out[:, cols] = np.where(exempt, np.nan, out[:, cols])
    return out


def stamp_duty(table: RuleTable, dates: list[date]) -> tuple[np.ndarray, np.ndarray]:
    """(T,) buy and sell stamp duty rates of each day (0 before any row)."""
    rows = sorted(table.stamp_duty, key=lambda r: r.start)
    if not rows:
        return np.zeros(len(dates)), np.zeros(len(dates))
    idx = _in_force(rows, _dates64(dates))
    buy = np.array([r.buy for r in rows])[np.maximum(idx, 0)]
    sell = np.array([r.sell for r in rows])[np.maximum(idx, 0)]
    return np.where(idx >= 0, buy, 0.0), np.where(idx >= 0, sell, 0.0)


def transfer_fees(
    table: RuleTable, dates: list[date], symbols: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """((T, E) rate, (T, E) per share, (N,) exchange index) of the transfer fee."""
    days = _dates64(dates)
    rate = np.zeros((len(dates), len(EXCHANGES)))
    per_share = np.zeros_like(rate)
    for e, exchange in enumerate(EXCHANGES):
        rows = sorted((r for r in table.transfer_fees if r.exchange == exchange), key=_start)
        if not rows:
            continue
        idx = _in_force(rows, days)
        ok = idx >= 0
        rate[:, e] = np.where(ok, np.array([r.rate for r in rows])[np.maximum(idx, 0)], 0.0)
        per_share[:, e] = np.where(
            ok, np.array([r.per_share for r in rows])[np.maximum(idx, 0)], 0.0
        )
    exch = np.array([EXCHANGES.index(exchange_of(s)) for s in symbols], dtype=np.int64)
    return rate, per_share, exch


def lot_sizes(table: RuleTable, day: date, symbols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(N,) buy minimum and buy step of each stock under the rules in force on `day`.

    A board without a lot row in force gets (0, 0): fractional shares.
    """
    boards = [board_of(s) for s in symbols]
    lot_min, lot_step = np.zeros(len(symbols)), np.zeros(len(symbols))
    for board in set(boards):
        rows = [r for r in sorted(table.lots, key=_start) if r.board == board and r.start <= day]
        if not rows:
            rows = [r for r in sorted(table.lots, key=_start) if r.board == board][:1]
        if not rows:
            continue
        cols = [j for j, b in enumerate(boards) if b == board]
        lot_min[cols], lot_step[cols] = rows[-1].buy_min, rows[-1].buy_step
    return lot_min, lot_step


def _start(row: _Row) -> date:
    return row.start


def read_status_table(path: str | Path) -> tuple[StatusPeriod, ...]:
    """Read a user's ST table: a CSV with columns symbol, start, end (may be empty), status.

    Raises:
        UserInputError: the file is missing, lacks a column, or a row is invalid (named).
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserInputError(f"{file}: no such status table")
    frame = pl.read_csv(file, infer_schema=False)
    missing = {"symbol", "start", "end", "status"} - set(frame.columns)
    if missing:
        raise UserInputError(f"{file}: status table lacks column(s) {sorted(missing)}")
    out = []
    for line, row in enumerate(frame.iter_rows(named=True), start=2):
        try:
            out.append(
                StatusPeriod(
                    symbol=row["symbol"].strip().upper(),
                    start=row["start"],
                    end=row["end"] or None,
                    status=row["status"].strip().lower(),
                )
            )
        except (ValueError, AttributeError) as err:
            raise UserInputError(f"{file}:{line}: invalid status row {row}: {err}") from None
    return tuple(out)
