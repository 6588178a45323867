"""The simulated market's parameters (`SimConfig`), validated and frozen.

Every field has a description (it becomes a form field in the Prefect UI) and a range. The
planted effects are on by default; `effects="none"` turns all three off and leaves a random walk
that keeps the market's texture (fat tails, volatility clustering, price limits, suspensions,
listings, delistings).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SimConfig(BaseModel):
    """Parameters of the built-in simulated A-share-like market."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_stocks: int = Field(300, ge=2, le=20_000, description="Number of stocks simulated.")
    start: date = Field(date(2005, 1, 1), description="First calendar day of the simulation.")
    end: date = Field(date(2017, 12, 31), description="Last calendar day (inclusive).")
    seed: int = Field(0, ge=0, description="Random seed; the same seed gives identical frames.")
    n_industries: int = Field(10, ge=1, le=200, description="Number of industry factors.")
    effects: Literal["planted", "none"] = Field(
        "planted",
        description="'planted': momentum, reversal and the timing drift are present; "
        "'none': a pure random walk (no predictable structure).",
    )

    momentum_strength: float = Field(
        0.01,
        ge=0,
        le=0.05,
        description="Expected log return added to month t per cross-sectional standard deviation "
        "of the stock's cumulative return over months t-12..t-2.",
    )
    reversal_strength: float = Field(
        0.01,
        ge=0,
        le=0.05,
        description="Expected log return taken from month t per cross-sectional standard "
        "deviation of the stock's month t-1 return.",
    )
    timing_strength: float = Field(
        0.4,
        ge=0,
        le=1,
        description="Standard deviation of the latent daily drift (AR(1)) as a fraction of each "
        "component's daily volatility; it makes the next days' return sign predictable.",
    )
    timing_half_life_days: float = Field(
        3.0, gt=0, le=60, description="Half-life of the latent daily drift, in trading days."
    )
    timing_fading_share: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Share of the drift's price impact that fades again (the rest is permanent); "
        "it keeps the timing component from adding month-to-month return correlation.",
    )
    timing_fade_half_life_days: float = Field(
        6.0, gt=0, le=250, description="Half-life of the fading share's price deviation, in days."
    )
    timing_volume_link: float = Field(
        0.2,
        ge=0,
        le=2,
        description="Log-turnover response to the standardized latent drift (volume reveals it).",
    )

    market_drift: float = Field(
        0.08, ge=-0.5, le=0.5, description="Annual expected simple return of every stock."
    )
    market_vol: float = Field(
        0.014, gt=0, le=0.1, description="Long-run daily volatility of the market factor."
    )
    industry_vol: float = Field(
        0.008, ge=0, le=0.1, description="Long-run daily volatility of each industry factor."
    )
    idio_vol_min: float = Field(
        0.015, gt=0, le=0.1, description="Lowest long-run daily idiosyncratic volatility."
    )
    idio_vol_max: float = Field(
        0.03, gt=0, le=0.1, description="Highest long-run daily idiosyncratic volatility."
    )
    tail_df: float = Field(
        5.0, gt=2, le=100, description="Degrees of freedom of the Student-t shocks (fat tails)."
    )
    jump_rate: float = Field(
        0.01, ge=0, le=0.2, description="Probability of an idiosyncratic news jump per stock-day."
    )
    jump_size: float = Field(
        0.07, ge=0, le=0.5, description="Standard deviation of a news jump's log return."
    )
    garch_alpha: float = Field(0.08, ge=0, lt=1, description="GARCH(1,1) reaction to shocks.")
    garch_beta: float = Field(0.9, ge=0, lt=1, description="GARCH(1,1) variance persistence.")
    price_limit: float = Field(
        0.10, gt=0, le=0.5, description="Daily price limit relative to the previous close."
    )

    listed_at_start: float = Field(
        0.6, gt=0, le=1, description="Fraction of stocks listed on the first trading day."
    )
    delisted_fraction: float = Field(
        0.04,
        ge=0,
        le=1,
        description="Fraction of stocks delisted at a random date before the end (besides the "
        "price-floor rule).",
    )
    delist_below_price: float = Field(
        0.3,
        ge=0,
        description="A stock closing below this price for `delist_after_days` listed days in a "
        "row is delisted (0 disables the rule).",
    )
    delist_after_days: int = Field(
        20, ge=1, le=250, description="Consecutive days below the price floor before delisting."
    )
    suspension_rate: float = Field(
        0.0025, ge=0, le=0.1, description="Expected suspension spells per stock per trading day."
    )
    suspension_mean_days: float = Field(
        8.0, ge=1, le=250, description="Mean length of a suspension spell in trading days."
    )
    zero_volume_share: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Share of suspension spells exported as volume-0 rows carrying the previous "
        "close (the rest are missing rows).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SimConfig:
        if (self.end - self.start).days < 28:
            raise ValueError(f"end ({self.end}) must be 4 weeks or more after start ({self.start})")
        if self.idio_vol_max < self.idio_vol_min:
            raise ValueError("idio_vol_max must be >= idio_vol_min")
        if self.garch_alpha + self.garch_beta >= 1:
            raise ValueError("garch_alpha + garch_beta must be < 1 (stationary variance)")
        return self

    @property
    def planted(self) -> bool:
        """Whether the predictable effects are present."""
        return self.effects == "planted"

    @property
    def momentum(self) -> float:
        """The momentum strength in force (0 without planted effects)."""
        return self.momentum_strength if self.planted else 0.0

    @property
    def reversal(self) -> float:
        """The reversal strength in force (0 without planted effects)."""
        return self.reversal_strength if self.planted else 0.0

    @property
    def timing(self) -> float:
        """The timing-drift strength in force (0 without planted effects)."""
        return self.timing_strength if self.planted else 0.0

    @property
    def volume_link(self) -> float:
        """The volume response to the timing drift in force (0 without planted effects)."""
        return self.timing_volume_link if self.planted else 0.0
