"""A small friendly API around the compiled kernel: bars in, trades and net values out.

Input contract: a `bars` table (see `schemas/bars.py`) turned into day-major arrays by
`market_arrays(bars, start=, end=)`, and one `StrategyOrders` per strategy (built by
`tasks.strategies`): instruction arrays for the open and close sessions of every day, and each
month's allocation session with its members. `run_backtest` runs every strategy on the same
arrays and market rules and returns a `BacktestResult` whose `trades` and `nav` tables follow
`schemas/strategy.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest.engine import (
    BLOCK_NAMES,
    REASON_NAMES,
    SESSION_CLOSE,
    SIDE_BUY,
    TRADE_DTYPE,
    CostParams,
    simulate_nb,
)
from cnnlstm.tasks.backtest.market import MarketConfig

NO_INSTRUCTION = -1


@dataclass(frozen=True)
class MarketArrays:
    """Day-major price arrays of a universe over a calendar (T days x N stocks)."""

    dates: list[date]
    symbols: list[str]
    open: np.ndarray  # (T, N) float64, NaN without a bar
    close: np.ndarray  # (T, N) float64, NaN without a bar
    tradable: np.ndarray  # (T, N) bool: a bar with volume > 0
    delist_day: np.ndarray | None = None  # (N,) int64: first day after a delisted stock's last bar

    def delisting(self) -> np.ndarray:
        """(N,) first day index after each delisted stock's last bar; -1 when not delisted."""
        if self.delist_day is None:
            return np.full(len(self.symbols), -1, dtype=np.int64)
        return self.delist_day.astype(np.int64)

    @property
    def month_end(self) -> np.ndarray:
        """(T,) bool: the day is its month's last trading day in the calendar."""
        months = np.array([d.year * 12 + d.month for d in self.dates])
        return np.append(months[1:] != months[:-1], True)

    def day_index(self) -> dict[date, int]:
        """Date -> row position."""
        return {d: i for i, d in enumerate(self.dates)}

    def stock_index(self) -> dict[str, int]:
        """Symbol -> column position."""
        return {s: i for i, s in enumerate(self.symbols)}


@dataclass(frozen=True)
class StrategyOrders:
    """One strategy's instructions for the kernel (see `cnnlstm.tasks.backtest.engine`)."""

    name: str
    instr_open: np.ndarray  # (T, N) int8: 1 hold, 0 flat, -1 no instruction
    instr_close: np.ndarray  # (T, N) int8
    alloc_day: np.ndarray  # (M,) int64, ascending
    alloc_session: np.ndarray  # (M,) int8: 0 open, 1 close
    members: np.ndarray  # (M, N) bool


@dataclass
class BacktestResult:
    """Every strategy's ledger and daily values on one calendar."""

    trades: pl.DataFrame
    nav: pl.DataFrame
    blocked: dict[str, int] = field(default_factory=dict)
    positions: dict[str, np.ndarray] = field(default_factory=dict)  # (T, N) shares if recorded
    market: MarketArrays | None = None

    def positions_table(self, strategy: str) -> pl.DataFrame:
        """Daily non-zero holdings of one strategy: date, symbol, shares, value."""
        if strategy not in self.positions or self.market is None:
            raise UserInputError(f"positions of {strategy!r} were not recorded")
        held = self.positions[strategy]
        day, stock = np.nonzero(held)
        close = _forward_filled_close(self.market)
        return pl.DataFrame(
            {
                "date": [self.market.dates[i] for i in day],
                "symbol": [self.market.symbols[j] for j in stock],
                "shares": held[day, stock],
                "value": held[day, stock] * close[day, stock],
            }
        )


def market_arrays(
    bars: pl.DataFrame, *, start: date | None = None, end: date | None = None
) -> MarketArrays:
    """Pivot a bars table into day-major arrays over its trading calendar in [start, end].

    The calendar is every date on which any stock has a bar. A missing row or volume 0 means
    the stock cannot trade that day. A stock whose last bar comes before the last date of the
    whole table is delisted after it (the exchange announces a delisting; the data's end is not
    one): a holding is then settled at its last traded close.
    """
    missing = {"symbol", "date", "open", "close", "volume"} - set(bars.columns)
    if missing:
        raise UserInputError(f"bars lack column(s) {sorted(missing)} needed by the backtest")
    last_bar = bars.group_by("symbol").agg(pl.col("date").max())
    data_end = bars["date"].max()
    frame = bars.lazy()
    if start is not None:
        frame = frame.filter(pl.col("date") >= start)
    if end is not None:
        frame = frame.filter(pl.col("date") <= end)
    frame = frame.select("symbol", "date", "open", "close", "volume").collect()
    if frame.height == 0:
        raise UserInputError(f"no bars between {start} and {end}")
    dates = frame["date"].unique().sort()
    symbols = frame["symbol"].unique().sort()
    day = dates.search_sorted(frame["date"]).to_numpy()
    stock = symbols.search_sorted(frame["symbol"]).to_numpy()
    shape = (dates.len(), symbols.len())
    open_px = np.full(shape, np.nan)
    close_px = np.full(shape, np.nan)
    tradable = np.zeros(shape, dtype=bool)
    open_px[day, stock] = frame["open"].to_numpy()
    close_px[day, stock] = frame["close"].to_numpy()
    tradable[day, stock] = frame["volume"].fill_null(0).to_numpy() > 0
    gone = pl.DataFrame({"symbol": symbols}).join(last_bar, on="symbol", how="left")["date"]
    after = dates.search_sorted(gone, side="right").to_numpy().astype(np.int64)
    delisted = (gone < data_end).to_numpy() & (after < dates.len())
    delist_day = np.where(delisted, after, -1)
    return MarketArrays(dates.to_list(), symbols.to_list(), open_px, close_px, tradable, delist_day)


def cost_params(cfg: MarketConfig) -> CostParams:
    """The kernel's view of a market configuration."""
    return CostParams(
        commission_rate=float(cfg.commission_rate),
        min_commission=float(cfg.min_commission),
        stamp_duty_rate=float(cfg.stamp_duty_rate),
        slippage_rate=float(cfg.slippage_rate),
        t_plus_1=bool(cfg.t_plus_1),
        price_limit=float(cfg.price_limit or 0.0),
        limit_tolerance=float(cfg.limit_tolerance),
        lot_size=float(cfg.lot_size),
        initial_capital=float(cfg.initial_capital),
    )


def simulate(
    market: MarketArrays,
    orders: StrategyOrders,
    cfg: MarketConfig,
    *,
    record_positions: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray], int, np.ndarray | None]:
    """Run the kernel for one strategy: (trade records, daily series, blocked, shares)."""
    _check_orders(market, orders)
    shape = market.close.shape
    shares_out = np.zeros(shape if record_positions else (0, 0))
    params = cost_params(cfg)
    capacity = max(1024, 2 * int(orders.members.sum()) + 64)
    while True:
        trades = np.zeros(capacity, dtype=TRADE_DTYPE)
        n, nav, cash, value, costs, blocked = simulate_nb(
            market.open,
            market.close,
            market.tradable,
            orders.instr_open,
            orders.instr_close,
            market.month_end,
            market.delisting(),
            orders.alloc_day,
            orders.alloc_session,
            orders.members,
            params,
            trades,
            shares_out,
        )
        if n <= capacity:
            break
        capacity = n
    series = {"nav": nav, "cash": cash, "position_value": value, "costs": costs}
    return trades[:n], series, int(blocked), shares_out if record_positions else None


def run_backtest(
    market: MarketArrays,
    strategies: list[StrategyOrders],
    cfg: MarketConfig,
    *,
    record_positions: bool = False,
) -> BacktestResult:
    """Run every strategy on the same market and rules; return trades and daily net values.

    `nav` is the portfolio value over the initial capital; `position_ratio` is the value of the
    positions over the portfolio value, both at each day's close.
    """
    if len({s.name for s in strategies}) != len(strategies):
        raise UserInputError("strategy names must be unique")
    trade_frames, nav_frames, blocked, positions = [], [], {}, {}
    for orders in strategies:
        records, series, n_blocked, held = simulate(
            market, orders, cfg, record_positions=record_positions
        )
        trade_frames.append(_trades_frame(records, market, orders.name))
        nav_frames.append(_nav_frame(series, market, orders.name, cfg.initial_capital))
        blocked[orders.name] = n_blocked
        if held is not None:
            positions[orders.name] = held
    return BacktestResult(
        trades=pl.concat(trade_frames) if trade_frames else _empty_trades(),
        nav=pl.concat(nav_frames) if nav_frames else pl.DataFrame(),
        blocked=blocked,
        positions=positions,
        market=market,
    )


def _check_orders(market: MarketArrays, orders: StrategyOrders) -> None:
    """Raise when a strategy's arrays do not fit the market's calendar and universe."""
    shape = market.close.shape
    for name in ("instr_open", "instr_close"):
        arr = getattr(orders, name)
        if arr.shape != shape or arr.dtype != np.int8:
            raise UserInputError(f"{orders.name}: {name} must be int8 {shape}, got {arr.shape}")
    if orders.members.shape != (len(orders.alloc_day), shape[1]):
        raise UserInputError(f"{orders.name}: members must be (months, stocks)")
    if len(orders.alloc_day) > 1 and np.any(np.diff(orders.alloc_day) <= 0):
        raise UserInputError(f"{orders.name}: allocation days must be strictly ascending")


def _reason_text(reason: int, blocked_by: int, waited: int) -> str:
    """E.g. `month_end` or `month_end; retried after limit_down (2 sessions)`."""
    text = REASON_NAMES.get(reason, "unknown")
    if waited > 0:
        text += f"; retried after {BLOCK_NAMES.get(blocked_by, 'blocked')} ({waited} sessions)"
    return text


def _trades_frame(records: np.ndarray, market: MarketArrays, name: str) -> pl.DataFrame:
    """The kernel's records as a `trades` table."""
    if records.size == 0:
        return _empty_trades()
    # One int64 key per (reason, blocker, wait): few distinct values, each named once.
    key = (
        records["reason"].astype(np.int64) << 40
        | records["blocked_by"].astype(np.int64) << 32
        | records["waited"].astype(np.int64)
    )
    names = {
        int(k): _reason_text(int(k) >> 40, (int(k) >> 32) & 0xFF, int(k) & 0xFFFFFFFF)
        for k in np.unique(key)
    }
    reasons = pl.Series(key).replace_strict(names, return_dtype=pl.String)
    return pl.DataFrame(
        {
            "date": pl.Series(market.dates, dtype=pl.Date).gather(records["day"]),
            "symbol": pl.Series(market.symbols, dtype=pl.String).gather(records["stock"]),
            "side": records["side"],
            "session": records["session"],
            "price": records["price"],
            "shares": records["shares"],
            "cost": records["cost"],
            "reason": reasons,
        }
    ).with_columns(
        side=pl.when(pl.col("side") == SIDE_BUY).then(pl.lit("buy")).otherwise(pl.lit("sell")),
        session=pl.when(pl.col("session") == SESSION_CLOSE)
        .then(pl.lit("close"))
        .otherwise(pl.lit("open")),
        strategy=pl.lit(name),
    )


def _empty_trades() -> pl.DataFrame:
    """A `trades` table with no rows."""
    return pl.DataFrame(
        schema={
            "date": pl.Date,
            "symbol": pl.String,
            "side": pl.String,
            "session": pl.String,
            "price": pl.Float64,
            "shares": pl.Float64,
            "cost": pl.Float64,
            "reason": pl.String,
            "strategy": pl.String,
        }
    )


def _nav_frame(
    series: dict[str, np.ndarray], market: MarketArrays, name: str, capital: float
) -> pl.DataFrame:
    """Daily series of one strategy as `nav` rows (values relative to the initial capital)."""
    nav = series["nav"]
    ratio = np.divide(series["position_value"], nav, out=np.zeros_like(nav), where=nav > 0)
    return pl.DataFrame(
        {
            "date": market.dates,
            "strategy": [name] * len(market.dates),
            "nav": nav / capital,
            "position_ratio": ratio,
            "cash": series["cash"] / capital,
            "costs": series["costs"] / capital,
        }
    )


def _forward_filled_close(market: MarketArrays) -> np.ndarray:
    """(T, N) last traded close at each day (NaN before the first)."""
    close = np.where(market.tradable, market.close, np.nan)
    out = close.copy()
    for i in range(1, out.shape[0]):
        row = out[i]
        gap = np.isnan(row)
        row[gap] = out[i - 1][gap]
    return out
