"""Data health: how far the bars reach, which symbols are missing, how much is suspended.

Input contract: a `bars` table (symbol, date, volume, ...; see `schemas/bars.py`), optionally a
benchmark table (date, close), and the session the data must reach. Pure functions: the flow
`flows/data_health.py` wires them to the store and the exchange calendar.

A symbol is *missing* on the last session when it had a bar in the `lookback` sessions before it
but none on it (a listed stock the feed dropped, or a suspension without a row); *suspended* when
its row there has volume 0. Delisted stocks whose last bar is older than the lookback are not
counted (they left the universe).
"""

from __future__ import annotations

from datetime import date

import polars as pl
from pydantic import BaseModel, ConfigDict, Field


class SourceHealth(BaseModel):
    """The health of one table (the bars or the benchmark)."""

    model_config = ConfigDict(frozen=True)

    name: str
    last_date: date | None
    needed: date
    fresh: bool


class DataHealth(BaseModel):
    """What `data_health` found."""

    model_config = ConfigDict(frozen=True)

    needed: date = Field(description="the session the data must reach")
    sources: list[SourceHealth]
    symbols_recent: int = Field(description="symbols with a bar in the lookback sessions")
    missing_symbols: list[str] = Field(description="of those, without a bar on the last session")
    suspended_symbols: list[str] = Field(description="with volume 0 on the last session")
    suspended_share: float = Field(description="suspended / symbols_recent")
    warnings: list[str] = Field(
        default_factory=list, description="what will fail soon (e.g. the calendar's end)"
    )

    @property
    def fresh(self) -> bool:
        """Whether every source reaches the needed session."""
        return all(s.fresh for s in self.sources)

    def lines(self) -> list[str]:
        """A plain-words summary, one line per fact."""
        out = [
            f"{s.name}: last {s.last_date or 'no bars'}, needed {s.needed}: "
            + ("fresh" if s.fresh else "STALE")
            for s in self.sources
        ]
        out.append(
            f"symbols: {self.symbols_recent} recent, {len(self.missing_symbols)} missing on "
            f"{self.needed}"
            + (f" (e.g. {', '.join(self.missing_symbols[:5])})" if self.missing_symbols else "")
        )
        out.append(
            f"suspended on {self.needed}: {len(self.suspended_symbols)} "
            f"({self.suspended_share:.1%} of recent symbols)"
        )
        return out + [f"WARNING: {w}" for w in self.warnings]


def data_health(
    bars: pl.DataFrame,
    needed: date,
    *,
    sessions_before: list[date],
    benchmark: pl.DataFrame | None = None,
    source: str = "bars",
) -> DataHealth:
    """Check the bars (and benchmark) against the session they must reach.

    Args:
        bars: The stored bars.
        needed: The last completed session (what the live flows need).
        sessions_before: The lookback sessions before `needed` (for missing symbols).
        benchmark: The stored benchmark, if any.
        source: The bars' name in the report (the source spec).
    """
    last = bars["date"].max() if bars.height else None
    sources = [
        SourceHealth(
            name=source, last_date=last, needed=needed, fresh=bool(last and last >= needed)
        )
    ]
    if benchmark is not None:
        b_last = benchmark["date"].max() if benchmark.height else None
        sources.append(
            SourceHealth(
                name="benchmark",
                last_date=b_last,
                needed=needed,
                fresh=bool(b_last and b_last >= needed),
            )
        )
    window = set(sessions_before)
    recent = set(bars.filter(pl.col("date").is_in(list(window)))["symbol"].unique().to_list())
    on_day = bars.filter(pl.col("date") == needed)
    present = set(on_day["symbol"].to_list())
    suspended = sorted(on_day.filter(pl.col("volume").fill_null(0) <= 0)["symbol"].to_list())
    missing = sorted(recent - present)
    n = len(recent | present)
    return DataHealth(
        needed=needed,
        sources=sources,
        symbols_recent=n,
        missing_symbols=missing,
        suspended_symbols=suspended,
        suspended_share=(len(suspended) / n) if n else 0.0,
    )
