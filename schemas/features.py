"""The `cnn_features` table contract (built by `cnnlstm.tasks.features.build_cnn_features`).

One row per eligible (symbol, month t): `month` is the first calendar day of month t,
`rebalance_date` the last trading day before it; `mret_13 .. mret_2` are the raw monthly returns of
months t-13 .. t-2, `dret_20 .. dret_1` the raw daily returns of the 20 trading days ending at
`rebalance_date`, `x_00 .. x_31` those 32 values z-scored across the month's stocks (all finite,
never null); `target_return` is month t's return and `label` (0/1) whether it beat the month's
median, both null while month t is not complete.

The column names are defined here, and the feature builder (`tasks.features.cnn`) takes them from
this module, so the schema and the builder can never disagree on names.
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

MONTH_LAGS = tuple(range(13, 1, -1))  # 13 .. 2
DAY_LAGS = tuple(range(20, 0, -1))  # 20 .. 1
MRET_COLUMNS = tuple(f"mret_{k}" for k in MONTH_LAGS)
DRET_COLUMNS = tuple(f"dret_{k}" for k in DAY_LAGS)
RAW_COLUMNS = MRET_COLUMNS + DRET_COLUMNS
X_COLUMNS = tuple(f"x_{i:02d}" for i in range(len(RAW_COLUMNS)))
N_FEATURES = len(X_COLUMNS)  # 32
TABLE_COLUMNS = (
    "symbol",
    "month",
    "rebalance_date",
    *RAW_COLUMNS,
    *X_COLUMNS,
    "target_return",
    "label",
)

CNN_FEATURE_COLUMNS: tuple[str, ...] = TABLE_COLUMNS
"""The columns of the `cnn_features` table, in their canonical order."""


def _finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
    """Every feature value is finite."""
    return data.lazyframe.select(
        pl.all_horizontal([pl.col(c).is_finite() for c in (*RAW_COLUMNS, *X_COLUMNS)])
    )


def _rebalance_before_month(cls, data: pa.PolarsData) -> pl.LazyFrame:
    """The decision day precedes the month it decides."""
    return data.lazyframe.select(pl.col("rebalance_date") < pl.col("month"))


def _month_is_first_day(cls, data: pa.PolarsData) -> pl.LazyFrame:
    """`month` is the first calendar day of its month."""
    return data.lazyframe.select(pl.col("month").dt.day() == 1)


def _label_with_target(cls, data: pa.PolarsData) -> pl.LazyFrame:
    """`label` is null exactly where `target_return` is."""
    return data.lazyframe.select(pl.col("label").is_null() == pl.col("target_return").is_null())


class _Config:
    """Whole-table rules."""

    unique = ["symbol", "month"]
    coerce = True
    strict = True


_annotations: dict[str, object] = {
    "symbol": str,
    "month": dt.date,
    "rebalance_date": dt.date,
    **{c: float for c in (*RAW_COLUMNS, *X_COLUMNS)},
    "target_return": float,
    "label": pl.Int8,
}
_fields: dict[str, object] = {
    "symbol": pa.Field(str_length={"min_value": 1}),
    "month": pa.Field(),
    "rebalance_date": pa.Field(),
    **{c: pa.Field() for c in (*RAW_COLUMNS, *X_COLUMNS)},
    "target_return": pa.Field(nullable=True),
    "label": pa.Field(nullable=True, isin=[0, 1]),
}

CnnFeaturesSchema: type[pa.DataFrameModel] = type(
    "CnnFeaturesSchema",
    (pa.DataFrameModel,),
    {
        "__doc__": "The CNN's monthly features, targets and labels (see the module docstring).",
        "__module__": __name__,
        "__annotations__": _annotations,
        **_fields,
        "Config": _Config,
        "finite_features": pa.dataframe_check(name="finite features")(_finite),
        "rebalance_before_month": pa.dataframe_check(name="rebalance_date < month")(
            _rebalance_before_month
        ),
        "month_is_first_day": pa.dataframe_check(name="month is a month's first day")(
            _month_is_first_day
        ),
        "label_with_target": pa.dataframe_check(name="label null exactly when target is")(
            _label_with_target
        ),
    },
)
