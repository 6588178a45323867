"""Null baselines: the strategies' own choices replaced by chance, through the same kernel.

* **random selection** (the CNN's null): each draw holds, each month, as many stocks as the CNN
  selected that month, drawn uniformly without replacement from that month's eligible universe
  (the `universe` selection table), in equal slots all month: the same orders `monthly_orders`
  builds for a selection, under the same kernel, rules, lots and costs.
* **random timing** (the LSTM's null): each draw holds the CNN's own picks, timed by independent
  +1/-1 signals whose chance of +1 is the LSTM's own share of +1 over the picks' decision days
  (a missing signal counts as -1, as in `timing_plan`), through the same held-days rule.

Draw d uses its own generator seeded with (seed, d), so a draw is the same whatever the number
of draws or the chunking. The draws run through `simulate_batch` in chunks whose instruction
arrays stay under `chunk_bytes`; only the daily net values are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest.api import (
    NO_INSTRUCTION,
    MarketArrays,
    OrdersBatch,
    market_rules,
    simulate_batch,
)
from cnnlstm.tasks.backtest.engine import SESSION_CLOSE, SESSION_OPEN
from cnnlstm.tasks.backtest.market import MarketConfig
from cnnlstm.tasks.strategy.timing import Execution, month_days

RANDOM_SELECTION, RANDOM_TIMING = "random_selection", "random_timing"


class NullConfig(BaseModel):
    """How many random draws each null baseline runs, and their seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    draws: int = Field(200, ge=0, description="draws per null baseline (0: no nulls)")
    seed: int = Field(0, description="seed of the draws (draw d uses the seed (seed, d))")
    chunk_bytes: int = Field(
        256 * 2**20, ge=1, description="bytes of instruction arrays per kernel call, at most"
    )


@dataclass(frozen=True)
class MonthPlan:
    """One month of a selection: its execution rows in the calendar and its picks' columns."""

    month: date
    rows: np.ndarray  # (L,) int64 execution days
    decisions: list[date]  # the LSTM's decision days behind each execution
    picks: np.ndarray  # (k,) int64 the selection's columns


def month_plans(
    market: MarketArrays, selection: pl.DataFrame, execution: Execution
) -> list[MonthPlan]:
    """The selection's months on the calendar, in allocation order (as `monthly_orders`)."""
    stock, day = market.stock_index(), market.day_index()
    spans = month_days(market.dates)
    plans = []
    for (month,), group in selection.group_by("month", maintain_order=True):
        span = spans.get(month)
        if span is None:
            continue
        if span.rebalance_date is None:
            raise UserInputError(f"month {month} has no trading day before it")
        decisions = [span.rebalance_date, *span.days[:-1]]
        exec_days = span.days if execution == "open" else decisions
        unknown = [s for s in group["symbol"].to_list() if s not in stock]
        if unknown:
            raise UserInputError(f"selected symbols without bars: {unknown[:5]}")
        picks = np.array([stock[s] for s in group["symbol"].to_list()], dtype=np.int64)
        rows = np.array([day[d] for d in exec_days], dtype=np.int64)
        plans.append(MonthPlan(month, rows, decisions, picks))
    return sorted(plans, key=lambda p: p.rows[0])


def _batch(
    market: MarketArrays, plans: list[MonthPlan], members: np.ndarray, instr: np.ndarray, execution
) -> OrdersBatch:
    """Orders of V draws from their members `(V, M, N)` and instructions `(V, T, N)`."""
    n_var = members.shape[0]
    idle = np.full(instr.shape, NO_INSTRUCTION, dtype=np.int8)
    if execution == "open":
        idle[:, market.month_end, :] = 0
    session = SESSION_OPEN if execution == "open" else SESSION_CLOSE
    alloc = np.array([p.rows[0] for p in plans], dtype=np.int64)
    return OrdersBatch(
        [f"draw{v}" for v in range(n_var)],
        instr if execution == "open" else idle,
        idle if execution == "open" else instr,
        np.tile(alloc, (n_var, 1)),
        np.full((n_var, len(plans)), session, dtype=np.int8),
        members,
    )


def random_selection_batch(
    market: MarketArrays,
    plans: list[MonthPlan],
    eligible: dict[date, np.ndarray],
    draws: range,
    seed: int,
    execution: Execution = "open",
) -> OrdersBatch:
    """Draws holding as many random eligible stocks a month as the selection, all month."""
    n_days, n_stocks = market.close.shape
    members = np.zeros((len(draws), len(plans), n_stocks), dtype=bool)
    for i, d in enumerate(draws):
        rng = np.random.default_rng([seed, d])
        for m, plan in enumerate(plans):
            pool = eligible[plan.month]
            members[i, m, rng.choice(pool, size=len(plan.picks), replace=False)] = True
    day_month = np.full(n_days, -1, dtype=np.int64)
    for m, plan in enumerate(plans):
        day_month[plan.rows] = m
    instr = np.zeros((len(draws), n_days, n_stocks), dtype=np.int8)
    active = day_month >= 0
    instr[:, active, :] = members[:, day_month[active], :]
    return _batch(market, plans, members, instr, execution)


def held_batch(signals: np.ndarray, hold_days: int, last_buy_step: int | None) -> np.ndarray:
    """`timing.held_states` over many draws at once: signals `(V, L)` +1/-1 -> held `(V, L)`."""
    days_left = np.zeros(signals.shape[0], dtype=np.int64)
    held = np.zeros(signals.shape, dtype=bool)
    for i in range(signals.shape[1]):
        plus = signals[:, i] == 1
        may_buy = (days_left > 0) | (last_buy_step is None or i <= last_buy_step)
        days_left = np.where(
            plus,
            np.where(may_buy, hold_days, days_left),
            np.maximum(days_left - 1, 0),
        )
        held[:, i] = days_left > 0
    return held


def random_timing_batch(
    market: MarketArrays,
    plans: list[MonthPlan],
    buy_share: float,
    draws: range,
    seed: int,
    *,
    execution: Execution = "open",
    hold_days: int = 5,
) -> OrdersBatch:
    """Draws timing the selection's own picks with random +1/-1 at `buy_share` of +1."""
    n_days, n_stocks = market.close.shape
    members = np.zeros((len(draws), len(plans), n_stocks), dtype=bool)
    instr = np.zeros((len(draws), n_days, n_stocks), dtype=np.int8)
    rngs = [np.random.default_rng([seed, d]) for d in draws]
    for m, plan in enumerate(plans):
        members[:, m, plan.picks] = True
        steps = len(plan.rows)
        last_buy = steps - 2 if execution == "open" else None
        for j in plan.picks:
            draw = np.stack([rng.random(steps) for rng in rngs])
            signals = np.where(draw < buy_share, 1, -1)
            instr[:, plan.rows, j] = held_batch(signals, hold_days, last_buy)
    return _batch(market, plans, members, instr, execution)


def buy_share(plans: list[MonthPlan], market: MarketArrays, signals: pl.DataFrame) -> float:
    """The LSTM's share of +1 over the picks' decision days (a missing signal counts as -1)."""
    lookup = {(s, d): int(v) for s, d, v in signals.select("symbol", "date", "signal").iter_rows()}
    plus = total = 0
    for plan in plans:
        for j in plan.picks:
            symbol = market.symbols[j]
            plus += sum(lookup.get((symbol, d), -1) == 1 for d in plan.decisions)
            total += len(plan.decisions)
    return plus / total if total else 0.0


def eligible_columns(
    market: MarketArrays, universe: pl.DataFrame, plans: list[MonthPlan]
) -> dict[date, np.ndarray]:
    """Each planned month's eligible stocks (universe rows with bars) as columns.

    Raises:
        UserInputError: a month selects more stocks than its eligible universe holds.
    """
    stock = market.stock_index()
    out = {}
    for plan in plans:
        names = universe.filter(pl.col("month") == plan.month)["symbol"].to_list()
        pool = np.array(sorted({stock[s] for s in names if s in stock}), dtype=np.int64)
        if pool.size < len(plan.picks):
            raise UserInputError(
                f"month {plan.month}: {len(plan.picks)} picks but {pool.size} eligible stocks"
            )
        out[plan.month] = pool
    return out


@dataclass(frozen=True)
class NullRun:
    """Every draw's daily net value (`null`, `draw`, `date`, `nav` over capital) and facts."""

    nav: pl.DataFrame
    facts: dict[str, float]  # e.g. the LSTM's share of +1 the timing null draws at


def _chunks(market: MarketArrays, cfg: NullConfig) -> list[range]:
    """The draws in chunks whose two (V, T, N) int8 instruction arrays fit `chunk_bytes`."""
    per_draw = 2 * market.close.size
    size = max(1, cfg.chunk_bytes // max(per_draw, 1))
    return [range(s, min(s + size, cfg.draws)) for s in range(0, cfg.draws, size)]


def null_navs(market: MarketArrays, market_cfg: MarketConfig, build, cfg: NullConfig) -> np.ndarray:
    """(draws, T) net values over capital of the batches `build(draws)` makes, chunk by chunk."""
    rules = market_rules(market, market_cfg)
    out = [
        simulate_batch(market, build(chunk), market_cfg, rules=rules, record_trades=False).nav
        for chunk in _chunks(market, cfg)
    ]
    navs = np.concatenate(out) if out else np.zeros((0, len(market.dates)))
    return navs / market_cfg.initial_capital


def run_nulls(
    market: MarketArrays,
    market_cfg: MarketConfig,
    cfg: NullConfig,
    *,
    selection: pl.DataFrame,
    universe: pl.DataFrame,
    signals: pl.DataFrame | None = None,
    execution: Execution = "open",
    hold_days: int = 5,
) -> NullRun:
    """The random-selection null of `selection` and (with `signals`) its random-timing null."""
    plans = month_plans(market, selection, execution)
    tables, facts = [], {}
    if cfg.draws == 0 or not plans:
        return NullRun(_nav_table({}, market), facts)
    eligible = eligible_columns(market, universe, plans)
    navs = {
        RANDOM_SELECTION: null_navs(
            market,
            market_cfg,
            lambda d: random_selection_batch(market, plans, eligible, d, cfg.seed, execution),
            cfg,
        )
    }
    if signals is not None:
        share = buy_share(plans, market, signals)
        facts["lstm_buy_share"] = share
        navs[RANDOM_TIMING] = null_navs(
            market,
            market_cfg,
            lambda d: random_timing_batch(
                market, plans, share, d, cfg.seed, execution=execution, hold_days=hold_days
            ),
            cfg,
        )
    tables.append(_nav_table(navs, market))
    return NullRun(pl.concat(tables), facts)


def _nav_table(navs: dict[str, np.ndarray], market: MarketArrays) -> pl.DataFrame:
    """Long table: null, draw, date, nav."""
    frames = [
        pl.DataFrame(
            {
                "null": name,
                "draw": np.repeat(np.arange(values.shape[0]), values.shape[1]),
                "date": market.dates * values.shape[0],
                "nav": values.ravel(),
            },
            schema={"null": pl.String, "draw": pl.Int64, "date": pl.Date, "nav": pl.Float64},
        )
        for name, values in navs.items()
    ]
    empty = pl.DataFrame(
        schema={"null": pl.String, "draw": pl.Int64, "date": pl.Date, "nav": pl.Float64}
    )
    return pl.concat(frames) if frames else empty
