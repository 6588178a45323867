"""A small friendly API around the compiled kernel: bars in, trades and net values out.

Input contract: a `bars` table (see `schemas/bars.py`) turned into day-major arrays by
`market_arrays(bars, start=, end=)`, and one `StrategyOrders` per strategy (built by
`strategy.strategies`): instruction arrays for the open and close sessions of every day, and each
month's allocation session with its members. `run_backtest` runs every strategy on the same
arrays and market rules and returns a `BacktestResult` whose `trades` and `nav` tables follow
`schemas/strategy.py`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest.engine import (
    BLOCK_NAMES,
    COUNT_BLOCK0,
    COUNT_BLOCKED,
    COUNT_DROPPED,
    COUNT_FLAG0,
    FLAG_NAMES,
    REASON_NAMES,
    SESSION_CLOSE,
    SIDE_BUY,
    TRADE_DTYPE,
    CostParams,
    Rules,
    simulate_batch_nb,
)
from cnnlstm.tasks.backtest.market import MarketConfig
from cnnlstm.tasks.backtest.rules import lot_sizes, price_bands, stamp_duty, transfer_fees

log = logging.getLogger(__name__)

DELIST_AFTER_SESSIONS = 20
"""A stock with no trade over the store's last this-many sessions counts as delisted."""

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
    factor: np.ndarray | None = None  # (T, N) float64 price / raw price (None: raw prices)
    amount: np.ndarray | None = None  # (T, N) float64 traded amount in currency, NaN: none
    session_no: np.ndarray | None = None  # (T, N) int32 the stock's bar number in the store
    listing_day: np.ndarray | None = None  # (N,) datetime64[D] first bar, NaT: before the store
    raw_basis: str = "as given"  # how raw prices were found: factor | amount/volume | as given

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
    rule_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # by strategy, rule
    ruined: dict[str, date] = field(default_factory=dict)  # first day whose NAV reached zero
    failed: dict[str, str] = field(default_factory=dict)  # strategy -> error (others kept)
    held_suspended_at_end: dict[str, int] = field(default_factory=dict)
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
    bars: pl.DataFrame,
    *,
    start: date | None = None,
    end: date | None = None,
    listing: pl.DataFrame | None = None,
    delist_after: int = DELIST_AFTER_SESSIONS,
) -> MarketArrays:
    """Pivot a bars table into day-major arrays over its trading calendar in [start, end].

    The calendar is every date on which any stock has a bar. A missing row or volume 0 means
    the stock cannot trade that day.

    Raw prices (`raw_basis`): a `factor` column (Qlib: raw = adjusted / factor) where the bars
    carry one; otherwise, with amount and volume, raw close = amount / volume (exact where the
    source derives amount as raw close x volume, as the Qlib, CSV and US readers do; the day's
    average traded price where the amount is the exchange's, e.g. AkShare); otherwise the
    prices are taken as real ("as given"). Days without a trade carry the last known factor.

    Delisting: a stock is delisted when `listing` (symbol, end) says it ended before the
    store's last day, or when it never trades again in the whole table and the table goes on
    for at least `delist_after` sessions after its last trade. Otherwise a stock without bars
    at the end is merely suspended: it keeps its last close (and is flagged when held).
    """
    missing = {"symbol", "date", "open", "close", "volume"} - set(bars.columns)
    if missing:
        raise UserInputError(f"bars lack column(s) {sorted(missing)} needed by the backtest")
    frame = _window(bars, start, end)
    dates = frame["date"].unique().sort()
    symbols = frame["symbol"].unique().sort()
    grid = _Grid(
        day=dates.search_sorted(frame["date"]).to_numpy(),
        stock=symbols.search_sorted(frame["symbol"]).to_numpy(),
        shape=(dates.len(), symbols.len()),
    )
    volume = frame["volume"].fill_null(0).to_numpy()
    tradable = np.zeros(grid.shape, dtype=bool)
    tradable[grid.day, grid.stock] = volume > 0
    session_no = np.full(grid.shape, -1, dtype=np.int32)
    session_no[grid.day, grid.stock] = frame["session_no"].to_numpy()
    has_amount = "amount" in frame.columns
    amount = grid.pivot(frame["amount"].fill_null(np.nan).to_numpy()) if has_amount else None
    factor, basis = _raw_factor(frame, grid, volume)
    listing_day, delist_day = _listing_and_delisting(bars, symbols, dates, listing, delist_after)
    return MarketArrays(
        dates.to_list(),
        symbols.to_list(),
        grid.pivot(frame["open"].to_numpy()),
        grid.pivot(frame["close"].to_numpy()),
        tradable,
        delist_day,
        factor=factor,
        amount=amount,
        session_no=session_no,
        listing_day=listing_day,
        raw_basis=basis,
    )


def _window(bars: pl.DataFrame, start: date | None, end: date | None) -> pl.DataFrame:
    """The bars in [start, end] with each row's session number in its stock's whole history."""
    frame = (
        bars.lazy()
        .sort("symbol", "date")
        .with_columns(session_no=pl.int_range(pl.len()).over("symbol"))
    )
    if start is not None:
        frame = frame.filter(pl.col("date") >= start)
    if end is not None:
        frame = frame.filter(pl.col("date") <= end)
    extra = [c for c in ("factor", "amount") if c in bars.columns]
    frame = frame.select("symbol", "date", "open", "close", "volume", "session_no", *extra)
    out = frame.collect()
    if out.height == 0:
        raise UserInputError(f"no bars between {start} and {end}")
    return out


@dataclass(frozen=True)
class _Grid:
    """Where each row of a bars window lands on the (day, stock) grid."""

    day: np.ndarray
    stock: np.ndarray
    shape: tuple[int, int]

    def pivot(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """The rows' `values` on the (T, N) grid, `fill` where a stock has no row."""
        out = np.full(self.shape, fill)
        out[self.day, self.stock] = values
        return out


def _raw_factor(
    frame: pl.DataFrame, grid: _Grid, volume: np.ndarray
) -> tuple[np.ndarray | None, str]:
    """The (T, N) adjustment factor (raw = adjusted / factor), carried over gaps, and its basis."""
    factor, basis = None, "as given"
    if "factor" in frame.columns:
        factor, basis = grid.pivot(frame["factor"].fill_null(np.nan).to_numpy()), "factor"
    elif "amount" in frame.columns:
        money = frame["amount"].fill_null(0).to_numpy()
        ok = (volume > 0) & (money > 0)
        est = np.where(ok, frame["close"].to_numpy() * volume / np.where(ok, money, 1.0), np.nan)
        factor, basis = grid.pivot(est), "amount/volume"
    if factor is not None:
        factor = _carried(np.where(np.isfinite(factor) & (factor > 0), factor, np.nan))
    return factor, basis


def _listing_and_delisting(
    bars: pl.DataFrame,
    symbols: pl.Series,
    dates: pl.Series,
    listing: pl.DataFrame | None,
    delist_after: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each stock's listing day (NaT if listed before the store) and delisting day index (-1).

    See `market_arrays` for when a stock counts as delisted.
    """
    store_days = bars["date"].unique().sort()
    data_end = store_days[-1]
    last_trade = bars.filter(pl.col("volume") > 0).group_by("symbol").agg(last=pl.col("date").max())
    first_bar = bars.group_by("symbol").agg(first=pl.col("date").min())
    symbol_frame = pl.DataFrame({"symbol": symbols})
    first = symbol_frame.join(first_bar, on="symbol", how="left")["first"]
    listing_day = first.to_numpy().astype("datetime64[D]")
    listing_day[~(first > store_days[0]).to_numpy()] = np.datetime64("NaT")
    ends = symbol_frame.join(last_trade, on="symbol", how="left")["last"]
    cutoff = store_days[max(len(store_days) - 1 - delist_after, 0)]
    gone = (ends.fill_null(data_end) <= cutoff).to_numpy() & (len(store_days) > delist_after)
    end_day = ends.to_numpy().astype("datetime64[D]")
    if listing is not None:
        told = symbol_frame.join(
            listing.select(pl.col("symbol").str.to_uppercase(), "end"),
            left_on=pl.col("symbol").str.to_uppercase(),
            right_on="symbol",
            how="left",
        )["end"]
        said = (told.is_not_null() & (told < data_end)).to_numpy()
        gone |= said
        end_day = np.where(said, told.to_numpy().astype("datetime64[D]"), end_day)
    after = np.searchsorted(dates.to_numpy().astype("datetime64[D]"), end_day, side="right")
    delist_day = np.where(gone & (after < dates.len()), after, -1).astype(np.int64)
    return listing_day, delist_day


def _carried(values: np.ndarray) -> np.ndarray:
    """(T, N) values forward-filled down each column, then back-filled; 1 where none at all."""
    out = values.copy()
    for i in range(1, out.shape[0]):
        gap = np.isnan(out[i])
        out[i, gap] = out[i - 1, gap]
    for i in range(out.shape[0] - 2, -1, -1):
        gap = np.isnan(out[i])
        out[i, gap] = out[i + 1, gap]
    return np.where(np.isnan(out), 1.0, out)


def cost_params(cfg: MarketConfig) -> CostParams:
    """The kernel's view of a market configuration's scalar numbers."""
    mult = float(cfg.cost_multiplier)
    return CostParams(
        commission_rate=float(cfg.commission_rate) * mult,
        min_commission=float(cfg.min_commission) * mult,
        slippage_rate=float(cfg.slippage_rate) * mult,
        t_plus_1=bool(cfg.t_plus_1),
        tick=float(cfg.tick),
        participation=float(cfg.participation or 0.0),
        initial_capital=float(cfg.initial_capital),
    )


def market_rules(market: MarketArrays, cfg: MarketConfig) -> Rules:
    """The dated rules of `cfg` resolved on the market's days and stocks (see `Rules`).

    Raises:
        UserInputError: a participation cap without the bars' traded amount.
    """
    n_days, n_stocks = market.close.shape
    table = cfg.rule_table()
    mult = float(cfg.cost_multiplier)
    if cfg.price_limit is not None:
        band = np.full((n_days, n_stocks), float(cfg.price_limit))
    else:
        band = price_bands(
            table,
            market.dates,
            market.symbols,
            status=cfg.status,
            listing_day=market.listing_day,
            session_no=market.session_no,
        )
    if cfg.stamp_duty_rate is not None:
        buy, sell = np.zeros(n_days), np.full(n_days, float(cfg.stamp_duty_rate))
    else:
        buy, sell = stamp_duty(table, market.dates)
    rate, per_share, exch = transfer_fees(table, market.dates, market.symbols)
    if cfg.lot_size is not None:
        lot_min = lot_step = np.full(n_stocks, float(cfg.lot_size))
    else:
        lot_min, lot_step = lot_sizes(table, market.dates[0], market.symbols)
    if cfg.participation is not None and market.amount is None:
        raise UserInputError("a participation cap needs the bars' traded amount (no amount)")
    factor = market.factor if market.factor is not None else np.ones((n_days, n_stocks))
    amount = market.amount if market.amount is not None else np.full((n_days, n_stocks), np.nan)
    return Rules(
        np.ascontiguousarray(band, dtype=np.float64),
        np.ascontiguousarray(factor, dtype=np.float64),
        np.ascontiguousarray(amount, dtype=np.float64),
        buy * mult,
        sell * mult,
        rate * mult,
        per_share * mult,
        exch,
        lot_min.astype(np.float64),
        lot_step.astype(np.float64),
    )


@dataclass(frozen=True)
class SimOutcome:
    """One strategy's kernel output."""

    records: np.ndarray  # TRADE_DTYPE
    series: dict[str, np.ndarray]
    counts: np.ndarray  # engine COUNT_* layout
    ruined_day: int  # -1: never
    shares: np.ndarray | None  # (T, N) when recorded


@dataclass(frozen=True)
class OrdersBatch:
    """V variants of a strategy's orders stacked on a leading axis (see `simulate_batch_nb`)."""

    names: list[str]
    instr_open: np.ndarray  # (V, T, N) int8
    instr_close: np.ndarray  # (V, T, N) int8
    alloc_day: np.ndarray  # (V, M) int64, ascending; padded with T
    alloc_session: np.ndarray  # (V, M) int8
    members: np.ndarray  # (V, M, N) bool

    def __len__(self) -> int:
        return len(self.names)


def stack_orders(orders: list[StrategyOrders], n_days: int) -> OrdersBatch:
    """Stack strategies' orders into one batch (fewer allocations are padded with `n_days`)."""
    months = max((len(o.alloc_day) for o in orders), default=0)
    n_var, n_stocks = len(orders), orders[0].members.shape[1] if orders else 0
    alloc_day = np.full((n_var, months), n_days, dtype=np.int64)
    alloc_session = np.zeros((n_var, months), dtype=np.int8)
    kinds = [o.members.dtype for o in orders]
    members = np.zeros((n_var, months, n_stocks), dtype=np.result_type(*kinds) if kinds else bool)
    for v, o in enumerate(orders):
        m = len(o.alloc_day)
        alloc_day[v, :m], alloc_session[v, :m], members[v, :m] = (
            o.alloc_day,
            o.alloc_session,
            o.members,
        )
    return OrdersBatch(
        [o.name for o in orders],
        np.stack([o.instr_open for o in orders]),
        np.stack([o.instr_close for o in orders]),
        alloc_day,
        alloc_session,
        members,
    )


@dataclass(frozen=True)
class BatchOutcome:
    """The kernel's output for V variants (a leading `(V,)` axis on every array)."""

    n_trades: np.ndarray  # (V,) trades made (may exceed the records kept)
    records: np.ndarray  # (V, C) TRADE_DTYPE, C = 0 when trades were not recorded
    nav: np.ndarray  # (V, T) in currency
    cash: np.ndarray
    position_value: np.ndarray
    costs: np.ndarray
    counts: np.ndarray  # (V, N_COUNTS)
    ruined_day: np.ndarray  # (V,) -1: never
    shares: np.ndarray | None  # (V, T, N) when recorded

    def outcome(self, v: int) -> SimOutcome:
        """Variant `v` as a single run's outcome."""
        series = {
            "nav": self.nav[v],
            "cash": self.cash[v],
            "position_value": self.position_value[v],
            "costs": self.costs[v],
        }
        held = self.shares[v] if self.shares is not None else None
        records = self.records[v, : self.n_trades[v]]
        return SimOutcome(records, series, self.counts[v], int(self.ruined_day[v]), held)


def simulate_batch(
    market: MarketArrays,
    batch: OrdersBatch,
    cfg: MarketConfig,
    *,
    record_trades: bool = True,
    record_positions: bool = False,
    rules: Rules | None = None,
) -> BatchOutcome:
    """Run every variant of `batch` on the same market and rules in one kernel call.

    Without `record_trades` only the daily series and counters are kept (a null's draws).
    """
    _check_batch(market, batch)
    n_var = len(batch)
    shape = market.close.shape
    shares_out = np.zeros((n_var, *shape) if record_positions else (n_var, 0, 0))
    params = cost_params(cfg)
    rules = rules if rules is not None else market_rules(market, cfg)
    capacity = 0
    if record_trades:
        capacity = max(1024, 2 * int(batch.members.sum(axis=(1, 2)).max(initial=0)) + 64)
    while True:
        trades = np.zeros((n_var, capacity), dtype=TRADE_DTYPE)
        n, nav, cash, value, costs, counts, ruined = simulate_batch_nb(
            market.open,
            market.close,
            market.tradable,
            batch.instr_open,
            batch.instr_close,
            market.month_end,
            market.delisting(),
            batch.alloc_day,
            batch.alloc_session,
            batch.members,
            rules,
            params,
            trades,
            shares_out,
        )
        if not record_trades or n.max(initial=0) <= capacity:
            break
        capacity = int(n.max())
    held = shares_out if record_positions else None
    return BatchOutcome(n, trades, nav, cash, value, costs, counts, ruined, held)


def simulate(
    market: MarketArrays,
    orders: StrategyOrders,
    cfg: MarketConfig,
    *,
    record_positions: bool = False,
    rules: Rules | None = None,
) -> SimOutcome:
    """Run the kernel for one strategy (a batch of one)."""
    _check_orders(market, orders)
    batch = stack_orders([orders], len(market.dates))
    out = simulate_batch(market, batch, cfg, record_positions=record_positions, rules=rules)
    return out.outcome(0)


def rule_counts(counts: np.ndarray) -> dict[str, int]:
    """The kernel's counters by rule: blocked attempts, resized trades, trades not made."""
    out = {f"blocked.{name}": int(counts[COUNT_BLOCK0 + c]) for c, name in BLOCK_NAMES.items()}
    out |= {f"resized.{name}": int(counts[COUNT_FLAG0 + f]) for f, name in FLAG_NAMES.items()}
    out["not_made.below_one_lot"] = int(counts[COUNT_DROPPED])
    return out


def run_backtest(
    market: MarketArrays,
    strategies: list[StrategyOrders],
    cfg: MarketConfig,
    *,
    record_positions: bool = False,
) -> BacktestResult:
    """Run every strategy on the same market and rules; return trades and daily net values.

    `nav` is the portfolio value over the initial capital; `position_ratio` is the value of the
    positions over the portfolio value, both at each day's close. A strategy whose kernel run
    fails is reported in `failed` (the others' results are kept); a strategy whose NAV reached
    zero stops trading and is reported in `ruined`.
    """
    if len({s.name for s in strategies}) != len(strategies):
        raise UserInputError("strategy names must be unique")
    rules = market_rules(market, cfg)
    result = BacktestResult(trades=_empty_trades(), nav=pl.DataFrame(), market=market)
    trade_frames, nav_frames = [], []
    for orders in strategies:
        try:
            out = simulate(market, orders, cfg, record_positions=record_positions, rules=rules)
            trades = _trades_frame(out.records, market, orders.name)
            nav = _nav_frame(out.series, market, orders.name, cfg.initial_capital)
        except UserInputError:
            raise
        except Exception as err:  # one strategy's failure keeps the others' results
            log.warning("strategy %s failed: %s", orders.name, err, exc_info=True)
            result.failed[orders.name] = f"{type(err).__name__}: {err}"
            continue
        trade_frames.append(trades)
        nav_frames.append(nav)
        result.blocked[orders.name] = int(out.counts[COUNT_BLOCKED])
        result.rule_counts[orders.name] = rule_counts(out.counts)
        if out.ruined_day >= 0:
            result.ruined[orders.name] = market.dates[out.ruined_day]
        result.held_suspended_at_end[orders.name] = _held_suspended_at_end(out.records, market)
        if out.shares is not None:
            result.positions[orders.name] = out.shares
    if trade_frames:
        result.trades = pl.concat(trade_frames)
    if nav_frames:
        result.nav = pl.concat(nav_frames)
    return result


def _held_suspended_at_end(records: np.ndarray, market: MarketArrays) -> int:
    """Stocks still held on the last day without a trade that day (valued at last close)."""
    if records.size == 0:
        return 0
    signed = np.where(records["side"] == SIDE_BUY, 1.0, -1.0) * records["shares"]
    held = np.bincount(records["stock"], weights=signed, minlength=len(market.symbols))
    return int(np.sum((held > 1e-9) & ~market.tradable[-1]))


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


def _check_batch(market: MarketArrays, batch: OrdersBatch) -> None:
    """Raise when a batch's arrays do not fit the market's calendar and universe."""
    n_var, shape = len(batch), market.close.shape
    for name in ("instr_open", "instr_close"):
        arr = getattr(batch, name)
        if arr.shape != (n_var, *shape) or arr.dtype != np.int8:
            raise UserInputError(f"batch {name} must be int8 {(n_var, *shape)}, got {arr.shape}")
    months = batch.alloc_day.shape[1]
    if batch.members.shape != (n_var, months, shape[1]) or batch.alloc_session.shape != (
        n_var,
        months,
    ):
        raise UserInputError("batch members must be (variants, months, stocks)")
    if months > 1 and np.any(np.diff(batch.alloc_day, axis=1) < 0):
        raise UserInputError("batch allocation days must be ascending")


def _reason_text(reason: int, blocked_by: int, waited: int, flag: int = 0) -> str:
    """E.g. `month_end` or `month_end; retried after limit_down (2 sessions); resized: cash`."""
    text = REASON_NAMES.get(reason, "unknown")
    if waited > 0:
        text += f"; retried after {BLOCK_NAMES.get(blocked_by, 'blocked')} ({waited} sessions)"
    if flag in FLAG_NAMES:
        text += f"; resized: {FLAG_NAMES[flag]}"
    return text


def _trades_frame(records: np.ndarray, market: MarketArrays, name: str) -> pl.DataFrame:
    """The kernel's records as a `trades` table."""
    if records.size == 0:
        return _empty_trades()
    # One int64 key per (reason, blocker, wait): few distinct values, each named once.
    key = (
        records["flag"].astype(np.int64) << 48
        | records["reason"].astype(np.int64) << 40
        | records["blocked_by"].astype(np.int64) << 32
        | records["waited"].astype(np.int64)
    )
    names = {
        int(k): _reason_text(
            (int(k) >> 40) & 0xFF, (int(k) >> 32) & 0xFF, int(k) & 0xFFFFFFFF, int(k) >> 48
        )
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
            "raw_price": records["price"] / records["factor"],
            "raw_shares": records["shares"] * records["factor"],
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
            "raw_price": pl.Float64,
            "raw_shares": pl.Float64,
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
