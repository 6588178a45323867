"""The built-in simulated A-share-like market: `simulate_market(SimConfig) -> SourceData`.

Input contract: a `SimConfig` (validated, frozen). Output: `bars` (symbol, date, open, high,
low, close, volume, amount; sorted by symbol, date) and a cap-weighted `benchmark` named
`SIM_INDEX`, both following the contracts in docs/ARCHITECTURE.md, and a `ReadReport` whose
notes say what was planted.

The market has a market factor and industry factors, Student-t shocks with GARCH volatility,
+-10% price limits with limit-up/limit-down closes, suspension spells (missing rows or volume-0
rows), staggered listings and some delistings. Three effects are planted (and removed by
`effects="none"`): intermediate-horizon momentum and short-term reversal at the monthly horizon,
and a latent daily drift that makes the sign of the next few days' return predictable from
recent prices and volumes. See `sim_paths.py` for the return model.

Everything is drawn from one `numpy.random.Generator(seed)` in a fixed order, so the same
configuration gives identical frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pydantic

from cnnlstm.core.errors import UserInputError
from cnnlstm.tasks.data.sources.base import SourceData, summarize
from cnnlstm.tasks.data.sources.sim_bars import (
    BENCHMARK_SYMBOL,
    build_bars,
    build_benchmark,
    symbols_for,
)
from cnnlstm.tasks.data.sources.sim_calendar import trading_calendar
from cnnlstm.tasks.data.sources.sim_config import SimConfig
from cnnlstm.tasks.data.sources.sim_lifecycle import delist_below_price, draw_lifecycle
from cnnlstm.tasks.data.sources.sim_paths import draw_stock_params, simulate_paths

__all__ = [
    "BENCHMARK_SYMBOL",
    "SimConfig",
    "load",
    "load_benchmark",
    "simulate_market",
    "symbols_for",
]


def _effect_notes(cfg: SimConfig) -> list[str]:
    """Plain-words description of the planted effects (or their absence)."""
    if not cfg.planted:
        return [
            "effects=none: a random walk with no momentum, reversal or timing drift "
            "(fat tails, volatility clustering, limits and suspensions remain)"
        ]
    return [
        f"planted momentum: +{cfg.momentum:.2%} expected log return in month t per "
        "cross-sectional SD of the return over months t-12..t-2",
        f"planted reversal: -{cfg.reversal:.2%} expected log return in month t per "
        "cross-sectional SD of month t-1's return",
        f"planted timing drift: latent AR(1) daily drift, SD {cfg.timing:.2f} x daily "
        f"volatility, half-life {cfg.timing_half_life_days:g} trading days; "
        f"{cfg.timing_fading_share:.0%} of its price impact fades again (half-life "
        f"{cfg.timing_fade_half_life_days:g} days); turnover responds to it "
        f"(log-turnover slope {cfg.volume_link:.2f} per SD)",
    ]


def simulate_market(cfg: SimConfig | None = None) -> SourceData:
    """Simulate the market described by `cfg` (the defaults when None).

    Args:
        cfg: The simulation parameters.

    Returns:
        `SourceData` with `bars`, the `SIM_INDEX` benchmark, and a report noting the effects.
    """
    cfg = cfg or SimConfig()
    rng = np.random.default_rng(cfg.seed)
    cal = trading_calendar(cfg.start, cfg.end)
    params = draw_stock_params(cfg, rng)
    life = draw_lifecycle(
        rng,
        cal.n_days,
        cfg.n_stocks,
        listed_at_start=cfg.listed_at_start,
        delisted_fraction=cfg.delisted_fraction,
        suspension_rate=cfg.suspension_rate,
        suspension_mean_days=cfg.suspension_mean_days,
        zero_volume_share=cfg.zero_volume_share,
    )
    paths = simulate_paths(cfg, cal, life, params, rng)
    life = delist_below_price(
        life, paths.log_close, price=cfg.delist_below_price, days=cfg.delist_after_days
    )
    bars = build_bars(cfg, cal, life, params, paths, rng)
    benchmark = build_benchmark(cal, life, params, paths)

    missing_days = int((life.halted & ~life.zero_volume).sum())  # halted is within listed life
    late = int((life.first_day > 0).sum())
    gone = int((life.last_day < cal.n_days - 1).sum())
    notes = [
        f"simulated market, seed {cfg.seed}: {cfg.n_stocks} stocks, {cfg.n_industries} "
        f"industries, {cal.n_days} trading days",
        *_effect_notes(cfg),
        f"listed after the first day: {late}; delisted before the end: {gone} (price floor "
        f"{cfg.delist_below_price:g} for {cfg.delist_after_days} days, or at random); "
        f"suspension spells: {life.n_spells} ({missing_days} suspended stock-days have no row, "
        f"{int(life.zero_volume.sum())} are volume-0 rows)",
        f"benchmark {BENCHMARK_SYMBOL}: cap-weighted index of listed stocks, base 1000",
    ]
    return SourceData(bars=bars, benchmark=benchmark, report=summarize(bars, "sim", notes=notes))


def load(kind: str, path: str, **options: Any) -> SourceData:
    """The `sim` source: run the simulated market with `options` as `SimConfig` fields.

    `path` is ignored (a `sim:` spec names none); a bad option raises `UserInputError` naming it.
    """
    try:
        cfg = SimConfig(**options)
    except pydantic.ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in err.errors()
        )
        raise UserInputError(f"simulated market options: {problems}") from None
    return simulate_market(cfg)


def load_benchmark(kind: str, path: str, symbol: str | None) -> pl.DataFrame:
    """The simulated index is not a benchmark for other sources: it comes with `--source sim`."""
    raise UserInputError(
        "the simulated market's index (SIM_INDEX) comes with --source sim; "
        "it is not a benchmark for other sources"
    )
