"""Every strategy the project knows, in one place: its name, label, style and how it trades.

One `StrategySpec` per strategy. The backtest builds the orders of every spec that trades
(`orders` is set) from the run's `StrategySet`; the report orders its Table 2 columns, names
and draws them from here; `compare` and the live flows name the headline strategy from here.
Adding a strategy is one entry in `STRATEGIES` (a test adds a toy one and finds it in Table 2,
metrics.json and `compare`).

Kinds of entry: a traded strategy (`orders` makes its orders on the shared market), the
benchmark index (a curve, never traded), and rows derived by the report or the flows (seed
ensembles, the frictionless equal-weighted index) which carry a name, label and style only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the registry itself is light: `compare` and the report's labels import it
    from cnnlstm.tasks.backtest.api import MarketArrays, StrategyOrders
    from cnnlstm.tasks.strategy.orders import StrategySet
    from cnnlstm.tasks.strategy.timing import Execution

#: How a traded strategy's orders are made: (market, inputs, execution, hold_days) -> its
#: orders (None when its inputs are absent) and counts worth reporting.
OrdersRule = Callable[
    ["MarketArrays", "StrategySet", "Execution", int],
    tuple["StrategyOrders | None", dict[str, int]],
]


@dataclass(frozen=True)
class StrategySpec:
    """One strategy: what it is called, how it is drawn and how its orders are made."""

    name: str  # key in nav/trades/metrics.json
    label: str  # what a reader sees (Table 2 column, figure legend)
    style: Mapping[str, Any] = field(default_factory=dict)  # matplotlib line style
    seed_dependent: bool = False  # trained networks decide it: differs by training seed
    orders: OrdersRule | None = None  # None: not traded here (an index or a derived row)


def _hold(name: str, selection: str) -> OrdersRule:
    """Hold each month's `selection` (a `StrategySet` field) in equal slots all month."""

    def rule(market, inputs, execution, hold_days):
        from cnnlstm.tasks.strategy.orders import monthly_orders  # numpy and the engine's types

        chosen = getattr(inputs, selection)
        if chosen is None:
            return None, {}
        return monthly_orders(market, name, chosen, execution=execution), {}

    return rule


def _cnn_timed_by_lstm(market, inputs, execution, hold_days):
    """The CNN's selection entered and left by the LSTM's signals under the hold rule."""
    from cnnlstm.tasks.strategy.orders import monthly_orders
    from cnnlstm.tasks.strategy.timing import timing_plan

    if inputs.cnn is None or inputs.signals is None:
        return None, {}
    plan, missing = timing_plan(
        inputs.cnn, inputs.signals, market.dates, execution=execution, hold_days=hold_days
    )
    orders = monthly_orders(market, "cnn_lstm", inputs.cnn, execution=execution, timing=plan)
    return orders, {"missing_signals": missing}


BENCHMARK = "benchmark"
HEADLINE = "cnn_lstm"

STRATEGIES: tuple[StrategySpec, ...] = (
    StrategySpec(BENCHMARK, "Benchmark", {"color": "black", "linestyle": "--", "linewidth": 1.6}),
    StrategySpec(
        "cnn_lstm",
        "CNN-LSTM",
        {"color": "tab:red", "linewidth": 2.0},
        seed_dependent=True,
        orders=_cnn_timed_by_lstm,
    ),
    StrategySpec(
        "cnn",
        "CNN",
        {"color": "tab:blue", "linewidth": 1.6},
        seed_dependent=True,
        orders=_hold("cnn", "cnn"),
    ),
    StrategySpec("cnn_lstm_ensemble", "CNN-LSTM seed ensemble", {"color": "tab:purple"}),
    StrategySpec("cnn_ensemble", "CNN seed ensemble", {"color": "tab:cyan"}),
    StrategySpec(
        "momentum",
        "Momentum",
        {"color": "tab:orange", "linewidth": 1.6},
        orders=_hold("momentum", "momentum"),
    ),
    StrategySpec(
        "equal_weight",
        "Equal-weighted universe",
        {"color": "tab:gray", "linewidth": 1.4},
        orders=_hold("equal_weight", "universe"),
    ),
    StrategySpec(
        "ew_index_monthly",
        "EW universe index, monthly rebalanced (frictionless)",
        {"color": "tab:olive"},
    ),
    StrategySpec(
        "ew_index", "EW universe index, daily rebalanced (frictionless)", {"color": "tab:brown"}
    ),
)


def specs() -> tuple[StrategySpec, ...]:
    """Every strategy, in the report's column order."""
    return STRATEGIES


def spec(name: str) -> StrategySpec | None:
    """The spec of `name`, or None for a name the registry does not know."""
    return next((s for s in specs() if s.name == name), None)


def label(name: str) -> str:
    """What a reader sees for `name` (the name itself when unknown)."""
    found = spec(name)
    return found.label if found else name


def labels() -> Mapping[str, str]:
    """Every strategy's label by name."""
    return MappingProxyType({s.name: s.label for s in specs()})


def style(name: str) -> Mapping[str, Any]:
    """The line style of `name` (empty when unknown)."""
    found = spec(name)
    return found.style if found else {}


def order_key(name: str) -> tuple[int, str]:
    """Sort key: the registry's order, unknown names last (alphabetically)."""
    names = [s.name for s in specs()]
    return (names.index(name) if name in names else len(names), name)


def traded() -> tuple[str, ...]:
    """Names of the strategies the backtest trades, in the report's order."""
    return tuple(s.name for s in specs() if s.orders is not None)


def seed_dependent() -> tuple[str, ...]:
    """Names of the strategies whose decisions depend on the training seed."""
    return tuple(s.name for s in specs() if s.seed_dependent)


def build_strategies(
    market: MarketArrays,
    inputs: StrategySet,
    *,
    execution: Execution = "open",
    hold_days: int = 5,
) -> tuple[list[StrategyOrders], dict[str, int]]:
    """Orders of every traded strategy whose inputs are given, on the same market.

    Returns:
        (orders, notes): the strategies' orders and counts worth reporting (missing signals).
    """
    orders: list[StrategyOrders] = []
    notes: dict[str, int] = {}
    # baselines first (the reverse of the report's order), so the ledger reads as it always did
    for item in reversed([s for s in specs() if s.orders is not None]):
        made, counts = item.orders(market, inputs, execution, hold_days)
        if made is not None:
            orders.append(made)
            notes.update(counts)
    return orders, notes
