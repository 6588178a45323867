"""Market rules and trading costs of a backtest, as presets with every number overridable.

A `MarketConfig` says what a trade costs and when a stock cannot trade:

* costs: `commission_rate` of the traded value both ways with a `min_commission` per trade,
  `stamp_duty_rate` on sells, and `slippage_rate` (the price moves against us by that fraction);
  a trade's recorded cost is commission + stamp duty + slippage, in currency.
* rules: `t_plus_1` (shares bought on a day cannot be sold that day), `price_limit` (no buy at
  limit-up, no sell at limit-down, measured against the last traded close), suspension (a stock
  with no bar or volume 0 cannot trade and keeps its last price), `lot_size` (shares in multiples
  of it; 0 allows fractional shares), `initial_capital`.

Presets: `cn` (A-shares) and `us` (US equities); `MarketConfig.preset("cn", lot_size=100)`
overrides any number.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cnnlstm.core.errors import UserInputError

MarketName = Literal["cn", "us", "custom"]


class MarketConfig(BaseModel):
    """Costs and trading rules of one market (rates are fractions: 0.0003 = 3 bps)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: MarketName = "custom"
    commission_rate: float = Field(0.0, ge=0, lt=0.1, description="of traded value, both ways")
    min_commission: float = Field(0.0, ge=0, description="per trade, in currency")
    stamp_duty_rate: float = Field(0.0, ge=0, lt=0.1, description="of sold value")
    slippage_rate: float = Field(0.0, ge=0, lt=0.1, description="price moves against us")
    t_plus_1: bool = Field(False, description="shares bought today cannot be sold today")
    price_limit: float | None = Field(
        None, gt=0, lt=1, description="daily limit vs last close (0.1 = +-10%); None: no limits"
    )
    limit_tolerance: float = Field(
        0.002, ge=0, lt=0.05, description="a move within this of the limit counts as at the limit"
    )
    lot_size: int = Field(0, ge=0, description="shares per lot; 0 allows fractional shares")
    initial_capital: float = Field(1_000_000.0, gt=0)

    @classmethod
    def preset(cls, name: str, **overrides: object) -> MarketConfig:
        """The `cn` or `us` preset with any field overridden.

        Raises:
            UserInputError: `name` is not a known preset or an override is invalid.
        """
        presets = {"cn": _CN, "us": _US}
        if name not in presets:
            raise UserInputError(f"unknown market {name!r}: choose one of {', '.join(presets)}")
        try:
            return cls(**{**presets[name], **overrides})
        except ValueError as err:
            raise UserInputError(f"invalid market override for {name!r}: {err}") from None

    @classmethod
    def frictionless(cls) -> MarketConfig:
        """No costs, no limits, fractional shares: the yardstick setting for comparisons."""
        return cls(name="custom")


_CN: dict[str, object] = {
    "name": "cn",
    "commission_rate": 0.00025,  # 2.5 bps both ways, typical broker rate
    "min_commission": 5.0,  # CNY per trade
    "stamp_duty_rate": 0.001,  # sells only (0.05% since Aug 2023; 0.1% over the paper's period)
    "slippage_rate": 0.001,
    "t_plus_1": True,
    "price_limit": 0.10,  # main board; ST 5%, ChiNext/STAR 20% (override per study)
    "lot_size": 0,  # 100 with unadjusted prices; back-adjusted prices make lots meaningless
    "initial_capital": 1_000_000.0,
}

_US: dict[str, object] = {
    "name": "us",
    "commission_rate": 1e-4,  # 1 bp
    "min_commission": 0.0,
    "stamp_duty_rate": 0.0,
    "slippage_rate": 5e-4,  # 5 bps
    "t_plus_1": False,
    "price_limit": None,
    "lot_size": 0,
    "initial_capital": 1_000_000.0,
}
