"""Market rules and trading costs of a backtest, as presets with every number overridable.

A `MarketConfig` says what a trade costs and when a stock cannot trade:

* costs: `commission_rate` of the traded value both ways with a `min_commission` per trade (a
  broker's terms), stamp duty and transfer fees (the market's dated rule table, or a flat
  `stamp_duty_rate` on sells), and `slippage_rate` (the price moves against us by that
  fraction); a trade's recorded cost is their sum, in currency, and never more than the cash
  left (`cash` is a hard limit: a buy is sized net of its costs).
* rules: `t_plus_1` (shares bought on a day cannot be sold that day); price bands from the rule
  table (`rules`, see `cnnlstm.tasks.backtest.rules`) or one flat `price_limit`, checked on
  real prices rounded to the `tick`; suspension (a stock with no bar or volume 0 cannot trade
  and keeps its last price); lots from the rule table or one flat `lot_size`; an optional
  `participation` cap (a trade's value at most that fraction of the day's traded amount; the
  rest of a sell waits, a buy is cut); `initial_capital`.

Presets: `cn` (A-shares: the dated rule table `rules_cn.CN_RULES`, T+1) and `us` (US equities:
bps costs, no limits, T+0, whole shares); `MarketConfig.preset("cn", lot_size=100)` overrides
any field, `rules_extra` adds or replaces rule rows, `status` gives ST periods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.backtest.rules import RuleTable, StatusPeriod, read_status_table

MarketName = Literal["cn", "us", "custom"]


class MarketConfig(BaseModel):
    """Costs and trading rules of one market (rates are fractions: 0.0003 = 3 bps)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: MarketName = "custom"
    commission_rate: float = Field(0.0, ge=0, lt=0.1, description="of traded value, both ways")
    min_commission: float = Field(0.0, ge=0, description="per trade, in currency")
    stamp_duty_rate: float | None = Field(
        None, ge=0, lt=0.1, description="flat, of sold value; None: the rule table's dated rates"
    )
    slippage_rate: float = Field(0.0, ge=0, lt=0.1, description="price moves against us")
    t_plus_1: bool = Field(False, description="shares bought today cannot be sold today")
    price_limit: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="one flat band vs the last close (0.1 = +-10%); None: the rule table's bands",
    )
    tick: float = Field(0.01, gt=0, le=1, description="price tick limit prices round to")
    lot_size: int | None = Field(
        None, ge=0, description="one flat lot; 0 fractional; None: the rule table's lots"
    )
    rules: Literal["cn", "none"] = Field("none", description="built-in dated rule table")
    rules_extra: RuleTable = Field(
        default_factory=RuleTable, description="rule rows added to (or replacing) the table's"
    )
    status: tuple[StatusPeriod, ...] = Field(
        (), description="ST periods (symbol, start, end), or the path of such a CSV table"
    )
    participation: float | None = Field(
        None, gt=0, le=1, description="a trade's value at most this share of the day's amount"
    )
    cost_multiplier: float = Field(
        1.0, ge=0, le=100, description="scales every cost (commission, duty, fees, slippage)"
    )
    initial_capital: float = Field(1_000_000.0, gt=0)

    @field_validator("status", mode="before")
    @classmethod
    def _status_from_file(cls, value: object) -> object:
        """A path reads the user's ST table (symbol, start, end, status) into rows."""
        if isinstance(value, str | Path):
            return read_status_table(value)
        return value

    def rule_table(self) -> RuleTable:
        """The built-in table (if any) extended by `rules_extra`."""
        from cnnlstm.tasks.backtest.rules_cn import CN_RULES

        base = CN_RULES if self.rules == "cn" else RuleTable()
        return base.extended(self.rules_extra)

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
        return cls(name="custom", lot_size=0)


_CN: dict[str, object] = {
    "name": "cn",
    "commission_rate": 0.00025,  # 2.5 bps both ways, typical broker rate
    "min_commission": 5.0,  # CNY per trade (broker terms)
    "stamp_duty_rate": None,  # dated: rules_cn.CN_RULES
    "slippage_rate": 0.001,
    "t_plus_1": True,
    "price_limit": None,  # dated bands by board and status: rules_cn.CN_RULES
    "lot_size": None,  # 100-share lots (STAR 200 + 1-share steps) at the real price
    "rules": "cn",
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
    "lot_size": 1,  # whole shares
    "rules": "none",
    "initial_capital": 1_000_000.0,
}
