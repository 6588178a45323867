"""Monthly stock selection: the top fraction of eligible stocks by score, and momentum scores.

Input contract: a `scores` table (`symbol`, `month`, `score`; see `schemas/strategy.py`) with one
row per eligible (symbol, month), and for `momentum_scores` the `cnn_features` table with the raw
monthly returns `mret_12 .. mret_2` (months t-12 .. t-2, all known before month t starts).

Momentum's formation window (`SelectionConfig.momentum_window`): `t-12..t-2` (the default, the
classic Jegadeesh-Titman 12-1 skipping the last month, whose short-term reversal would blur it)
or `t-12..t-1` (the last month included). Month t-1's return is the `target_return` of the
stock's row for month t-1 (month-end close of t-1 over that of t-2, known at month t's rebalance
date); a stock without a row for t-1 (not eligible then) has no t-12..t-1 score and is not
ranked that month (counted in `MomentumScores.unranked`).
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cnnlstm.core.errors import UserInputError
from cnnlstm.core.frames import group_mean
from cnnlstm.schemas.strategy import ScoresSchema, SelectionSchema
from cnnlstm.schemas.validation import validate_table

MOMENTUM_COLUMNS: tuple[str, ...] = tuple(f"mret_{k}" for k in range(12, 1, -1))
"""Raw monthly returns of months t-12 .. t-2: the momentum formation window."""


class SelectionConfig(BaseModel):
    """How many stocks to pick each month: a fraction of the eligible ones, or a fixed count."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top_fraction: float = Field(0.01, gt=0, le=1, description="share of eligible stocks")
    top_count: int | None = Field(None, ge=1, description="a fixed count instead of a fraction")
    min_count: int = Field(1, ge=1, description="pick at least this many")
    momentum_window: Literal["t-12..t-2", "t-12..t-1"] = Field(
        "t-12..t-2",
        description="momentum's formation window: months t-12..t-2 (skip the last month, the "
        "default) or t-12..t-1",
    )

    @model_validator(mode="after")
    def _count_not_below_minimum(self) -> SelectionConfig:
        if self.top_count is not None and self.top_count < self.min_count:
            raise ValueError("top_count must be at least min_count")
        return self

    def count(self, eligible: int) -> int:
        """How many of `eligible` stocks to pick (never more than there are)."""
        if self.top_count is not None:
            wanted = self.top_count
        else:
            wanted = max(self.min_count, int(round(self.top_fraction * eligible)))
        return min(wanted, eligible)


def ensemble_scores(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The seed ensemble's scores: each stock-month's score averaged over the seeds' networks.

    `parts` are the seeds' score tables (`ScoresSchema`, one row per stock-month each). The mean
    adds a stock-month's scores in a fixed order, so the same networks give the same bits, and the
    same ranking, whatever the order of the seeds or of the rows; the rows come in the first
    part's order.
    """
    first = parts[0]
    if len(parts) == 1:
        return first
    mean = group_mean(pl.concat(parts), ["symbol", "month"], {"score": "score"})
    return (
        first.drop("score")
        .join(mean, on=["symbol", "month"], maintain_order="left")
        .select(first.columns)
    )


def select_top(scores: pl.DataFrame, cfg: SelectionConfig) -> pl.DataFrame:
    """Pick each month's best-scored stocks.

    Ties are broken by symbol so the choice is reproducible.

    Returns:
        The `selection` table (`month`, `symbol`, `score`, `rank`), sorted by month and rank.

    Raises:
        DataValidationError: `scores` breaks its contract (missing, duplicate or NaN scores).
    """
    scores = validate_table(scores, ScoresSchema, table="scores").valid
    ranked = scores.sort(
        ["month", "score", "symbol"], descending=[False, True, False]
    ).with_columns(
        rank=pl.int_range(1, pl.len() + 1).over("month"),
        eligible=pl.len().over("month"),
    )
    counts = {m: cfg.count(n) for m, n in ranked.select("month", "eligible").unique().iter_rows()}
    keep = pl.col("rank") <= pl.col("month").replace_strict(counts, return_dtype=pl.Int64)
    out = ranked.filter(keep).select("month", "symbol", "score", pl.col("rank").cast(pl.Int64))
    return validate_table(out, SelectionSchema, table="selection").valid


def universe_selection(scores: pl.DataFrame) -> pl.DataFrame:
    """Every eligible stock of each month (the equal-weighted universe), ranked by score."""
    return select_top(scores, SelectionConfig(top_fraction=1.0))


def momentum_scores(
    features: pl.DataFrame, window: Literal["t-12..t-2", "t-12..t-1"] = "t-12..t-2"
) -> pl.DataFrame:
    """Momentum score per (symbol, month): the compounded return over the formation window.

    `t-12..t-1` needs month t-1's return: the `target_return` of the stock's row for month t-1
    in `features` (pass every month, not only the test months); rows without it are left out.

    Raises:
        UserInputError: a formation-window column is missing or a row lacks one of its returns.
    """
    missing = [c for c in ("symbol", "month", *MOMENTUM_COLUMNS) if c not in features.columns]
    if missing:
        raise UserInputError(f"features lack the momentum column(s) {missing}")
    incomplete = features.filter(
        pl.any_horizontal([~pl.col(c).is_finite() | pl.col(c).is_null() for c in MOMENTUM_COLUMNS])
    )
    if incomplete.height:
        rows = incomplete.select("symbol", "month").head(3).rows()
        raise UserInputError(
            f"{incomplete.height} feature row(s) lack a monthly return in t-12..t-2, e.g. {rows}"
        )
    growth = pl.reduce(lambda a, b: a * b, [1.0 + pl.col(c) for c in MOMENTUM_COLUMNS])
    if window == "t-12..t-2":
        return features.select("symbol", "month", score=growth - 1.0)
    last = features.select(
        "symbol",
        month=pl.col("month").dt.offset_by("1mo"),
        mret_1=pl.col("target_return"),
    )
    joined = features.join(last, on=["symbol", "month"], how="left")
    return joined.filter(pl.col("mret_1").is_not_null()).select(
        "symbol", "month", score=growth * (1.0 + pl.col("mret_1")) - 1.0
    )
