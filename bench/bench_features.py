"""Feature building: the project's CNN table against a straightforward pandas version, same process.

Usage: .venv/bin/python bench/bench_features.py [--stocks 3000] [--years 12] [--lstm-stocks 500]

1. Simulates the market (`simulate_market`, planted effects) of N stocks x Y years.
2. Builds the CNN monthly table with `tasks.features.build_cnn_features` and with `pandas_cnn`
   below: a per-stock `groupby` that reindexes each stock on the calendar, takes `pct_change`,
   month-end closes by `groupby(month).last()`, lags by `shift`, a `rolling` count of traded days,
   then a per-month `groupby().transform` z-score and median label; checks identical values
   and prints the time ratio.
3. Builds every 30x6 LSTM window of the first `--lstm-stocks` stocks over 8 years (no sampling)
   for comparison with peers that need ~9 GB and 8 minutes for 60x6 windows of 500 stocks.
Peak memory is the process's peak RSS (`resource.getrusage`) after each step; it only grows, so
the step that runs first (the project's builder) is measured before the pandas one adds to it.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date

import numpy as np
import pandas as pd
import polars as pl

from cnnlstm.tasks.data.sources.sim import SimConfig, simulate_market
from cnnlstm.tasks.features import (
    DRET_COLUMNS,
    MRET_COLUMNS,
    RAW_COLUMNS,
    X_COLUMNS,
    CnnFeatureConfig,
    LstmWindowConfig,
    build_cnn_features,
    build_lstm_windows,
)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB


def _one_stock(
    g: pd.DataFrame, calendar: pd.DatetimeIndex, months: pd.PeriodIndex, rebalance: pd.Series
) -> pd.DataFrame:
    """All raw features and targets of one stock for every feature month."""
    g = g.set_index("date").reindex(calendar)
    close = g["close"].where(g["volume"] > 0)  # NaN when suspended or absent
    daily = close.pct_change(fill_method=None)
    month_end = close.groupby(calendar.to_period("M")).last().reindex(months)
    monthly = month_end.pct_change(fill_method=None)
    full_20 = daily.notna().rolling(20).sum() == 20
    out = pd.DataFrame(index=rebalance.index)  # one row per feature month t
    for k in range(13, 1, -1):
        out[f"mret_{k}"] = monthly.shift(k).reindex(rebalance.index).to_numpy()
    at_rebalance = pd.Index(rebalance.to_numpy())
    for k in range(20, 0, -1):
        out[f"dret_{k}"] = daily.shift(k - 1).reindex(at_rebalance).to_numpy()
    out["full_20"] = full_20.reindex(at_rebalance).to_numpy()
    out["target_return"] = monthly.reindex(rebalance.index).to_numpy()
    return out


def pandas_cnn(bars: pd.DataFrame, last_complete: pd.Period) -> pd.DataFrame:
    """The CNN table the straightforward pandas way (no live next month)."""
    calendar = pd.DatetimeIndex(np.sort(bars["date"].unique()))
    cal_months = calendar.to_period("M")
    months = pd.period_range(cal_months[0], cal_months[-1], freq="M")
    first_day = pd.Series(calendar, index=cal_months).groupby(level=0).first()
    rebalance = pd.Series(
        [calendar[calendar.get_loc(d) - 1] for d in first_day.iloc[1:]], index=first_day.index[1:]
    )
    rows = bars.groupby("symbol", sort=True).apply(
        lambda g: _one_stock(g, calendar, months, rebalance), include_groups=False
    )
    rows = rows.reset_index().rename(columns={"level_1": "month"})
    ok = rows[list(RAW_COLUMNS)].notna().all(axis=1) & rows["full_20"].astype(bool)
    rows = rows[ok].copy()
    rows.loc[rows["month"] > last_complete, "target_return"] = np.nan
    by_month = rows.groupby("month")
    for raw, x in zip(RAW_COLUMNS, X_COLUMNS, strict=True):
        rows[x] = by_month[raw].transform(lambda v: (v - v.mean()) / v.std(ddof=0))
    median = by_month["target_return"].transform("median")
    rows["label"] = (rows["target_return"] > median).astype("Int8")
    rows.loc[rows["target_return"].isna(), "label"] = pd.NA
    rows["month"] = rows["month"].dt.start_time.dt.date
    return rows.sort_values(["month", "symbol"]).reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=3000)
    ap.add_argument("--years", type=int, default=12)
    ap.add_argument("--lstm-stocks", type=int, default=500)
    args = ap.parse_args()
    start = date(2006, 1, 1)
    end = date(2006 + args.years - 1, 12, 31)

    t = time.perf_counter()
    bars = simulate_market(SimConfig(n_stocks=args.stocks, start=start, end=end)).bars
    print(
        f"simulated {args.stocks} stocks x {args.years} years: {bars.height:,} bars "
        f"in {time.perf_counter() - t:.1f} s; peak RSS {peak_gb():.2f} GiB"
    )

    t = time.perf_counter()
    ours = build_cnn_features(bars, CnnFeatureConfig(next_month="never"))
    t_ours = time.perf_counter() - t
    print(
        f"project CNN table: {ours.height:,} rows in {t_ours:.2f} s; peak RSS {peak_gb():.2f} GiB"
    )

    bars_pd = bars.to_pandas()
    bars_pd["date"] = pd.to_datetime(bars_pd["date"])
    last_complete = pd.Period(end, freq="M") - 1
    t = time.perf_counter()
    ref = pandas_cnn(bars_pd, last_complete)
    t_pd = time.perf_counter() - t
    print(f"pandas CNN table: {len(ref):,} rows in {t_pd:.2f} s; peak RSS {peak_gb():.2f} GiB")

    ref_pl = pl.from_pandas(ref[["symbol", "month", *RAW_COLUMNS, *X_COLUMNS, "target_return"]])
    ref_pl = ref_pl.with_columns(pl.col("month").cast(pl.Date))
    same_keys = ours.select("symbol", "month").equals(ref_pl.select("symbol", "month"))
    cols = [*MRET_COLUMNS, *DRET_COLUMNS, *X_COLUMNS, "target_return"]
    a = ours.select(cols).to_numpy()
    b = ref_pl.select(cols).to_numpy()
    max_diff = float(np.nanmax(np.abs(a - b))) if same_keys else float("nan")
    same_nulls = same_keys and bool((np.isnan(a) == np.isnan(b)).all())
    labels_equal = same_keys and ours["label"].equals(
        pl.Series("label", ref["label"].astype("float").to_numpy()).fill_nan(None).cast(pl.Int8)
    )
    print(
        f"identical rows: {same_keys}; same nulls: {same_nulls}; "
        f"max |difference| {max_diff:.2e}; labels equal: {labels_equal}"
    )
    print(f"RATIO features: project is {t_pd / t_ours:.1f}x faster than pandas")

    lstm_bars = bars.filter(
        pl.col("symbol").is_in(bars["symbol"].unique().sort()[: args.lstm_stocks].implode()),
        pl.col("date") < date(2014, 1, 1),
    )
    t = time.perf_counter()
    windows = build_lstm_windows(lstm_bars, LstmWindowConfig(max_windows_per_month=None))
    t_w = time.perf_counter() - t
    print(
        f"LSTM: every 30x6 window of {args.lstm_stocks} stocks x 8 years: {len(windows):,} "
        f"windows ({windows.x.nbytes / 1024**3:.2f} GiB float32) in {t_w:.1f} s; "
        f"peak RSS {peak_gb():.2f} GiB"
    )


if __name__ == "__main__":
    main()
