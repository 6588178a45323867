"""Share counts for live orders by the backtest's own rule: whole lots at real prices, net of costs.

`size_buy` answers "how many real shares does this budget buy of this stock today" exactly as
the backtest kernel sizes a buy (`engine.affordable_nb`): the market's lot rule for the stock's
board (A-shares: 100-share lots, STAR 200 then 1-share steps), the day's stamp duty, transfer
fee, commission with its minimum and slippage, and the leftover cash stays cash. `size_orders`
does it for a table of orders (tasks/live/orders.py uses it for the live daily orders).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from cnnlstm.tasks.backtest.api import MarketArrays, cost_params, market_rules
from cnnlstm.tasks.backtest.engine import (
    BLOCK_NAMES,
    BLOCK_NONE,
    SIDE_BUY,
    affordable_nb,
    trade_cost_nb,
)
from cnnlstm.tasks.backtest.market import MarketConfig


@dataclass(frozen=True)
class Sized:
    """One sized buy: real shares, their value and cost, and why none when zero."""

    shares: float
    value: float
    cost: float
    why_none: str | None


def size_buy(
    symbol: str, budget: float, price: float, day: date, cfg: MarketConfig, *, factor: float = 1.0
) -> Sized:
    """The real shares `budget` buys of `symbol` at `price` on `day` under `cfg`'s rules.

    Args:
        symbol: The stock (its code gives the board and exchange).
        budget: Cash for the order, costs included.
        price: The price in the data's units (adjusted when `factor` != 1).
        day: The trading day (dated rules: stamp duty, transfer fee).
        cfg: The market.
        factor: Price / real price (Qlib's `factor`); 1 for real prices.
    """
    one = MarketArrays(
        [day],
        [symbol],
        np.full((1, 1), price),
        np.full((1, 1), price),
        np.ones((1, 1), dtype=bool),
        factor=np.full((1, 1), factor),
    )
    rules = market_rules(one, cfg.model_copy(update={"participation": None}))
    params = cost_params(cfg)
    q, cause, _ = affordable_nb(float(budget), float(price), 0, 0, rules, params)
    if cause != BLOCK_NONE or q <= 0:
        return Sized(0.0, 0.0, 0.0, BLOCK_NAMES.get(cause, "no_cash"))
    cost = trade_cost_nb(SIDE_BUY, q, float(price), 0, 0, rules, params)
    return Sized(float(q * factor), float(q * price), float(cost), None)


def size_orders(orders: pl.DataFrame, day: date, cfg: MarketConfig) -> pl.DataFrame:
    """Add `shares` (real, whole lots), `value`, `cost` and `cash_left` to buy orders.

    `orders` has `symbol`, `budget` and `price` (and optionally `factor`); rows whose budget or
    price is null get null shares.
    """
    rows = []
    has_factor = "factor" in orders.columns
    for row in orders.iter_rows(named=True):
        budget, price = row["budget"], row["price"]
        if budget is None or price is None or not price > 0:
            rows.append((None, None, None, None))
            continue
        factor = row["factor"] if has_factor and row["factor"] else 1.0
        sized = size_buy(row["symbol"], budget, price, day, cfg, factor=factor)
        rows.append((sized.shares, sized.value, sized.cost, budget - sized.value - sized.cost))
    extra = pl.DataFrame(
        rows,
        schema={
            "shares": pl.Float64,
            "value": pl.Float64,
            "cost": pl.Float64,
            "cash_left": pl.Float64,
        },
        orient="row",
    )
    return pl.concat([orders, extra], how="horizontal")
