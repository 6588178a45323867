"""Every strategy's orders on the same universe, calendar and costs, and the benchmark's curve.

Input contract: `MarketArrays` of the test period (its calendar starts on the first test
month's rebalance date so `close` execution can trade there), `selection` tables (month, symbol)
and for CNN-LSTM the `signals` table. Strategies (`StrategySet`): the benchmark index bought and
held, the equal-weighted universe (every eligible stock, monthly), momentum (top fraction by
t-12..t-2 return, held all month), CNN-only (the CNN selection held all month) and CNN-LSTM
(the CNN selection timed by the LSTM). Month t's selection executes at its first day's open
(`open`) or at its rebalance date's close (`close`); everything is closed at the month's last
close. Where no benchmark index is given, `equal_weight_index` derives one (`EW_UNIVERSE`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from cnnlstm.core.errors import DataValidationError, UserInputError
from cnnlstm.schemas.strategy import NavSchema, TradesSchema
from cnnlstm.schemas.validation import validate_table
from cnnlstm.tasks.backtest.api import (
    BacktestResult,
    MarketArrays,
    StrategyOrders,
    market_arrays,
    run_backtest,
)
from cnnlstm.tasks.backtest.market import MarketConfig
from cnnlstm.tasks.strategy.orders import StrategySet, monthly_orders
from cnnlstm.tasks.strategy.registry import build_strategies
from cnnlstm.tasks.strategy.timing import Execution

# re-exported: the orders of one strategy and the inputs of all are used with the runs
__all__ = ["StrategySet", "build_strategies", "monthly_orders"]

EW_UNIVERSE = "EW_UNIVERSE"


@dataclass(frozen=True)
class StrategyRun:
    """Every strategy's backtest plus the benchmark's curve (in `result.nav`)."""

    result: BacktestResult
    benchmark_label: str
    benchmark_derived: bool
    notes: dict[str, int]
    texts: list[str] = field(default_factory=list)  # caveats in words (rules, capacity, ruin)


@dataclass(frozen=True)
class PreparedStrategies:
    """The market arrays and every strategy's orders over one test period, built once.

    What `run_prepared` simulates; the cost sensitivity simulates the same orders under other
    costs without building them again.
    """

    market: MarketArrays
    orders: list[StrategyOrders]
    notes: dict[str, int]
    first: date  # month one's rebalance date (the last trading day before the start)
    end: date


def prepare_strategies(
    bars: pl.DataFrame,
    inputs: StrategySet,
    *,
    start: date,
    end: date,
    execution: Execution = "open",
    hold_days: int = 5,
    listing: pl.DataFrame | None = None,
) -> PreparedStrategies:
    """The market and the orders of every strategy over the test months in [start, end].

    `listing` (symbol, start, end periods) decides delisting (see `market_arrays`).

    Raises:
        UserInputError: no trading day before `start`.
    """
    before = bars.filter(pl.col("date") < start)["date"]
    if before.len() == 0:
        raise UserInputError(f"no bars before the test start {start}: month one has no rebalance")
    first = before.max()
    market = market_arrays(bars, start=first, end=end, listing=listing)

    def in_test(table: pl.DataFrame | None) -> pl.DataFrame | None:
        if table is None:
            return None
        return table.filter((pl.col("month") >= start.replace(day=1)) & (pl.col("month") <= end))

    scoped = StrategySet(
        universe=in_test(inputs.universe),
        momentum=in_test(inputs.momentum),
        cnn=in_test(inputs.cnn),
        signals=inputs.signals,
    )
    orders, notes = build_strategies(market, scoped, execution=execution, hold_days=hold_days)
    return PreparedStrategies(market, orders, notes, first, end)


def run_strategies(
    bars: pl.DataFrame,
    inputs: StrategySet,
    cfg: MarketConfig,
    *,
    start: date,
    end: date,
    benchmark: pl.DataFrame | None = None,
    execution: Execution = "open",
    hold_days: int = 5,
    record_positions: bool = False,
) -> StrategyRun:
    """Backtest every strategy over the test months in [start, end] against the benchmark.

    The calendar starts on the last trading day before `start` (month one's rebalance date)
    and every nav is 1.0 before its first day. Without `benchmark`, an equal-weighted
    universe index (`EW_UNIVERSE`) is derived from `bars` and flagged as derived.

    Raises:
        UserInputError: no trading day before `start`, or the benchmark does not cover it.
    """
    prepared = prepare_strategies(
        bars, inputs, start=start, end=end, execution=execution, hold_days=hold_days
    )
    if benchmark is None:
        benchmark = equal_weight_index(bars, start=prepared.first, end=end)
        derived = True
    else:
        derived = False
    return run_prepared(
        prepared, cfg, benchmark, benchmark_derived=derived, record_positions=record_positions
    )


def run_prepared(
    prepared: PreparedStrategies,
    cfg: MarketConfig,
    benchmark: pl.DataFrame,
    *,
    benchmark_derived: bool = False,
    record_positions: bool = False,
) -> StrategyRun:
    """Simulate prepared orders under `cfg` against `benchmark` (see `run_strategies`)."""
    market = prepared.market
    result = run_backtest(market, prepared.orders, cfg, record_positions=record_positions)
    label = str(benchmark["symbol"][0]) if "symbol" in benchmark.columns else "benchmark"
    bench = benchmark_nav(benchmark, market.dates, name=label)
    navs, ledgers = [validate_table(bench, NavSchema, table="nav").valid], []
    for name in result.nav["strategy"].unique(maintain_order=True).to_list():
        try:  # one strategy's invalid table keeps the others' results
            navs.append(
                validate_table(
                    result.nav.filter(pl.col("strategy") == name).select(bench.columns),
                    NavSchema,
                    table=f"nav of {name}",
                ).valid
            )
            ledgers.append(
                validate_table(
                    result.trades.filter(pl.col("strategy") == name),
                    TradesSchema,
                    table=f"trades of {name}",
                ).valid
            )
        except DataValidationError as err:
            result.failed[name] = str(err)
            navs = [n for n in navs if n["strategy"][0] != name]
    result.nav = pl.concat(navs)
    result.trades = pl.concat(ledgers) if ledgers else result.trades.clear()
    notes = dict(prepared.notes)
    notes.update(rule_notes(result, market))
    notes.update(capacity_notes(result, market, cfg))
    texts = rule_texts(result, market)
    return StrategyRun(result, label, benchmark_derived, notes, texts)


RAW_BASIS_TEXT = {
    "factor": "limits and lots on real prices from the data's adjustment factor",
    "amount/volume": (
        "limits and lots on real prices derived as amount / volume (exact where the amount is "
        "the real close x volume, as for Qlib folders; the day's average traded price otherwise)"
    ),
    "as given": (
        "limits and lots on the prices as given (no factor, no amount): on adjusted prices an "
        "approximation"
    ),
}


def rule_texts(result: BacktestResult, market: MarketArrays) -> list[str]:
    """Caveats in words: how real prices were found, ruined and failed strategies."""
    texts = [RAW_BASIS_TEXT.get(market.raw_basis, market.raw_basis)]
    for name, day in result.ruined.items():
        texts.append(f"{name} was ruined on {day}: its NAV reached zero and it stopped trading")
    for name, why in result.failed.items():
        texts.append(f"{name} failed and has no results ({why.splitlines()[0]})")
    return texts


def capacity_notes(
    result: BacktestResult, market: MarketArrays, cfg: MarketConfig
) -> dict[str, int]:
    """Capacity as counts: the capital at which a strategy's fills start being cut.

    `capacity.<strategy>.first` / `.p05`: the capital (whole units) at which its first fill
    (5% of its fills) would be cut at `cfg.participation` (10% when uncapped) of the day's
    traded amount, scaled from this run's trades; `capacity.participation_pct` says which.
    """
    share = cfg.participation or 0.1
    cuts = capacity_capital(result.trades, market, cfg.initial_capital, share)
    out = {"capacity.participation_pct": round(share * 100)} if cuts else {}
    for name, cut in cuts.items():
        out |= {
            f"capacity.{name}.first": round(cut["first"]),
            f"capacity.{name}.p05": round(cut["p05"]),
        }
    return out


def capacity_capital(
    trades: pl.DataFrame, market: MarketArrays, capital: float, share: float
) -> dict[str, dict[str, float]]:
    """Per strategy, the capital at which its first fill (and 5% of fills) would be cut.

    A trade of value v on a day with traded amount A is cut once capital x v / capital exceeds
    `share` x A, i.e. from capital x share x A / v. Needs the bars' amount (else empty).
    """
    if market.amount is None or trades.height == 0:
        return {}
    day = market.day_index()
    col = market.stock_index()
    out = {}
    market_trades = trades.filter(~pl.col("reason").str.starts_with("delisted"))
    for (name,), part in market_trades.group_by("strategy", maintain_order=True):
        i = np.array([day[d] for d in part["date"].to_list()])
        j = np.array([col[s] for s in part["symbol"].to_list()])
        value = (part["price"] * part["shares"]).to_numpy()
        amount = market.amount[i, j]
        room = share * amount * capital / np.where(value > 0, value, np.nan)
        room = room[np.isfinite(room) & (amount > 0)]
        if room.size:
            out[str(name)] = {"first": float(room.min()), "p05": float(np.quantile(room, 0.05))}
    return out


def rule_notes(result: BacktestResult, market: MarketArrays) -> dict[str, int]:
    """Counts worth reporting per strategy: trades each rule blocked or resized, ruin, failure.

    Keys: `rule.<strategy>.<blocked|resized|not_made>.<rule>` (non-zero counts only),
    `ruined.<strategy>` (1), `failed.<strategy>` (1), `held_suspended_at_end.<strategy>` and
    `raw_prices.<basis>` (1) saying how real prices were found.
    """
    out: dict[str, int] = {f"raw_prices.{market.raw_basis.replace('/', '_per_')}": 1}
    for name, counts in result.rule_counts.items():
        out |= {f"rule.{name}.{k}": v for k, v in counts.items() if v}
    out |= {f"ruined.{name}": 1 for name in result.ruined}
    out |= {f"failed.{name}": 1 for name in result.failed}
    out |= {f"held_suspended_at_end.{k}": v for k, v in result.held_suspended_at_end.items() if v}
    return out


def benchmark_nav(benchmark: pl.DataFrame, dates: list[date], *, name: str) -> pl.DataFrame:
    """Buy-and-hold of the index over the calendar, as `nav` rows (1.0 on the first day).

    Raises:
        UserInputError: the index has no close on or before the calendar's first day.
    """
    index = benchmark.select("date", "close").sort("date")
    first = index.filter(pl.col("date") <= dates[0])
    if first.height == 0:
        raise UserInputError(
            f"benchmark {name} starts {index['date'].min()}, after the backtest's first day "
            f"{dates[0]}"
        )
    aligned = (
        pl.DataFrame({"date": dates})
        .join_asof(index, on="date", strategy="backward")
        .with_columns(nav=pl.col("close") / first["close"][-1])
    )
    return aligned.select(
        "date",
        strategy=pl.lit("benchmark"),
        nav="nav",
        position_ratio=pl.lit(1.0),
        cash=pl.lit(0.0),
        costs=pl.lit(0.0),
    )


def equal_weight_index(bars: pl.DataFrame, *, start: date, end: date) -> pl.DataFrame:
    """An equal-weighted index of every traded stock (daily rebalanced), labelled EW_UNIVERSE.

    A stock counts on a day when it traded (volume > 0); its return runs from its previous
    traded close. The index moves by the mean of those returns and is 1.0 on `start`.

    Each day's returns are summed exactly rounded (`math.fsum`), so no order of the rows can
    change the result: polars' grouped mean took the same rows in an order that varied from run
    to run, and the float sum then differed in its last digit (4 results in 30 runs of one
    input, before).
    """
    returns = (
        bars.lazy()
        .filter((pl.col("date") <= end) & (pl.col("volume") > 0))
        .sort("symbol", "date")
        .with_columns(prev=pl.col("close").shift(1).over("symbol"))
        .filter(pl.col("prev").is_not_null() & (pl.col("date") >= start))
        .select("date", "symbol", ret=pl.col("close") / pl.col("prev") - 1.0)
        .sort("date", "symbol")
        .collect()
    )
    if returns.height == 0:
        raise UserInputError(f"no bars between {start} and {end} to derive an index from")
    days = returns["date"]
    first = np.flatnonzero(np.r_[True, (days[1:] != days[:-1]).to_numpy()])
    ends = np.r_[first[1:], returns.height]
    ret = returns["ret"].to_list()
    means = [math.fsum(ret[a:b]) / (b - a) for a, b in zip(first, ends, strict=True)]
    daily = pl.DataFrame({"date": days.gather(first), "ret": means})
    return daily.select(
        symbol=pl.lit(EW_UNIVERSE),
        date="date",
        close=(1.0 + pl.col("ret")).cum_prod() / (1.0 + pl.col("ret").first()),
    )
