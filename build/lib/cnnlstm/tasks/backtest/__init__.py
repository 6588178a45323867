"""The backtest: market presets, the compiled kernel and the friendly API around it."""

from cnnlstm.tasks.backtest.api import (
    BacktestResult,
    MarketArrays,
    StrategyOrders,
    market_arrays,
    run_backtest,
)
from cnnlstm.tasks.backtest.market import MarketConfig

__all__ = [
    "BacktestResult",
    "MarketArrays",
    "MarketConfig",
    "StrategyOrders",
    "market_arrays",
    "run_backtest",
]
