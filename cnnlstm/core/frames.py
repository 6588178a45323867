"""Group means that give the same bits on every run.

polars 2.2's `group_by(...).agg(pl.col(x).mean())` (and `.sum()`) adds a group's rows in an
order that changes from call to call, even in one process with one thread, so a mean can differ
in its last bits between two identical runs (pola-rs/polars#25163, #25202). A last bit is enough
to flip a tie in a ranking or to change `metrics.json`. `group_mean` gathers each group's values
in a fixed order (a list, ascending) and averages the list, which adds them left to right.
Other aggregations (`len`, `median`, `std`, `corr`, min, max) were seen to be stable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl


def group_mean(
    frame: pl.DataFrame, by: str | Sequence[str], means: Mapping[str, pl.Expr | str]
) -> pl.DataFrame:
    """One row per group of `by`, sorted by `by`, with each mean of `means`.

    Each mean adds its group's values in ascending order of value, so the result does not depend
    on the order of `frame`'s rows either: the same rows in any order give the same bits.

    Args:
        frame: The rows.
        by: The group keys.
        means: Output column -> the column (or an expression over `frame`) to average; nulls
            are skipped, as polars' mean does.
    """
    keys = [by] if isinstance(by, str) else list(by)
    out: pl.DataFrame | None = None
    for name, expr in means.items():
        value = (pl.col(expr) if isinstance(expr, str) else expr).alias(name)
        part = (
            frame.select(*keys, value)
            .sort(*keys, name, nulls_last=True)
            .group_by(keys, maintain_order=True)
            .agg(pl.col(name))
            .with_columns(pl.col(name).list.mean())
        )
        out = part if out is None else out.join(part, on=keys, how="left", maintain_order="left")
    if out is None:
        raise ValueError("group_mean needs at least one mean")
    return out
