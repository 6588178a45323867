"""The CNN monthly table: values by hand, suspensions, eligibility counts, no look-ahead."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import random_walk_bars

from cnnlstm.core.errors import UserInputError
from cnnlstm.schemas.features import CNN_FEATURE_COLUMNS, CnnFeaturesSchema
from cnnlstm.tasks.features import (
    DRET_COLUMNS,
    MRET_COLUMNS,
    RAW_COLUMNS,
    X_COLUMNS,
    CnnFeatureConfig,
    build_cnn_features,
    build_cnn_features_counted,
)


def make_bars(
    n_stocks: int = 6, start: date = date(2018, 1, 1), end: date = date(2019, 8, 30), seed: int = 0
) -> pl.DataFrame:
    """Weekday bars of a small random-walk market, every stock traded every day."""
    days = pl.date_range(start, end, "1d", eager=True)
    return random_walk_bars(n_stocks, days.filter(days.dt.weekday() <= 5), seed)


def closes(bars: pl.DataFrame, symbol: str) -> pl.DataFrame:
    return bars.filter(pl.col("symbol") == symbol, pl.col("volume") > 0).sort("date")


def month_end_close(bars: pl.DataFrame, symbol: str, year: int, month: int) -> float:
    rows = closes(bars, symbol).filter(
        pl.col("date").dt.year() == year, pl.col("date").dt.month() == month
    )
    return rows["close"][-1]


def test_values_match_hand_computation():
    bars = make_bars()
    feats = build_cnn_features(bars, CnnFeatureConfig())
    CnnFeaturesSchema.validate(feats, lazy=True)
    assert tuple(feats.columns) == CNN_FEATURE_COLUMNS
    # Month t = 2019-05: features from months 2018-04 .. 2019-03 and the 20 days to 2019-04-30.
    row = feats.filter(pl.col("symbol") == "S03", pl.col("month") == date(2019, 5, 1))
    assert row["rebalance_date"][0] == date(2019, 4, 30)
    for k, col in zip(range(13, 1, -1), MRET_COLUMNS, strict=True):
        y, m = divmod(2019 * 12 + 4 - k, 12)  # month t-k (0-based month index)
        py, pm = divmod(2019 * 12 + 4 - k - 1, 12)
        expected = month_end_close(bars, "S03", y, m + 1) / month_end_close(bars, "S03", py, pm + 1)
        assert row[col][0] == pytest.approx(expected - 1, rel=1e-12)
    c = closes(bars, "S03").filter(pl.col("date") <= date(2019, 4, 30))["close"].to_numpy()
    daily = c[1:] / c[:-1] - 1
    np.testing.assert_allclose(row.select(DRET_COLUMNS).to_numpy()[0], daily[-20:], rtol=1e-12)
    target = month_end_close(bars, "S03", 2019, 5) / month_end_close(bars, "S03", 2019, 4) - 1
    assert row["target_return"][0] == pytest.approx(target, rel=1e-12)
    month = feats.filter(pl.col("month") == date(2019, 5, 1))
    median = month["target_return"].median()
    assert row["label"][0] == int(target > median)


def test_zscores_are_standardised_per_month():
    feats = build_cnn_features(make_bars(n_stocks=9), CnnFeatureConfig())
    stats = feats.group_by("month").agg(
        *[pl.col(x).mean().abs().alias(f"mean_{x}") for x in X_COLUMNS],
        *[pl.col(x).std(ddof=0).alias(f"sd_{x}") for x in X_COLUMNS],
    )
    assert stats.select(pl.col("^mean_.*$")).max_horizontal().max() < 1e-9
    np.testing.assert_allclose(stats.select(pl.col("^sd_.*$")).to_numpy(), 1.0, rtol=1e-9)
    # x_00 is mret_13 standardised, x_31 is dret_1 standardised
    m = feats.filter(pl.col("month") == feats["month"][0])
    raw = m["dret_1"].to_numpy()
    np.testing.assert_allclose(m["x_31"].to_numpy(), (raw - raw.mean()) / raw.std(), rtol=1e-9)


def test_labels_split_each_month_at_its_median():
    feats = build_cnn_features(make_bars(n_stocks=8), CnnFeatureConfig())
    known = feats.filter(pl.col("label").is_not_null())
    per_month = known.group_by("month").agg(pl.col("label").sum(), pl.len())
    assert (per_month["label"] * 2 == per_month["len"]).all()  # 8 distinct returns: 4 above


def test_first_eligible_month_needs_fourteen_month_ends():
    feats = build_cnn_features(make_bars(), CnnFeatureConfig())
    # Data start 2018-01: mret_13 of month t needs the end of t-14, so t >= 2019-03.
    assert feats["month"].min() == date(2019, 3, 1)


def test_live_month_has_features_without_target():
    bars = make_bars(end=date(2019, 8, 30))  # a Friday, the last weekday of August
    feats = build_cnn_features(bars, CnnFeatureConfig())
    live = feats.filter(pl.col("month") == date(2019, 9, 1))
    assert live.height == 6
    assert live["rebalance_date"].unique().to_list() == [date(2019, 8, 30)]
    assert live["label"].null_count() == 6 and live["target_return"].null_count() == 6
    aug = feats.filter(pl.col("month") == date(2019, 8, 1))
    assert aug["label"].null_count() == 0  # August is complete: September follows it
    mid = build_cnn_features(make_bars(end=date(2019, 8, 20)), CnnFeatureConfig())
    assert mid["month"].max() == date(2019, 8, 1)  # data ends mid-August: August is the live month
    assert mid.filter(pl.col("month") == date(2019, 8, 1))["label"].null_count() == 6
    never = build_cnn_features(bars, CnnFeatureConfig(next_month="never"))
    assert never["month"].max() == date(2019, 8, 1)


def test_suspension_in_last_days_makes_stock_ineligible_and_is_counted():
    bars = make_bars()
    stale = (pl.col("symbol") == "S01") & (pl.col("date") == date(2019, 4, 24))
    bars_zero = bars.with_columns(volume=pl.when(stale).then(0.0).otherwise(pl.col("volume")))
    feats, counts = build_cnn_features_counted(bars_zero, CnnFeatureConfig())
    may = feats.filter(pl.col("month") == date(2019, 5, 1))
    assert "S01" not in may["symbol"].to_list() and may.height == 5
    row = counts.per_month.filter(pl.col("month") == date(2019, 5, 1))
    assert row["short_daily_history"][0] == 1 and row["eligible"][0] == 5
    assert row["candidates"][0] == 6
    # A missing row has the same effect as a volume-0 row.
    feats_missing = build_cnn_features(bars.filter(~stale), CnnFeatureConfig())
    assert "S01" not in feats_missing.filter(pl.col("month") == date(2019, 5, 1))["symbol"]


def test_suspended_month_end_uses_last_traded_close():
    bars = make_bars()
    # S02 suspended (volume 0, stale close) for the last 3 days of January 2019.
    stale = (
        (pl.col("symbol") == "S02")
        & (pl.col("date") >= date(2019, 1, 29))
        & (pl.col("date") <= date(2019, 1, 31))
    )
    bars = bars.with_columns(
        volume=pl.when(stale).then(0.0).otherwise(pl.col("volume")),
        close=pl.when(stale).then(999.0).otherwise(pl.col("close")),  # a stale, wrong price
        high=pl.when(stale).then(999.0).otherwise(pl.col("high")),
    )
    feats = build_cnn_features(bars, CnnFeatureConfig())
    row = feats.filter(pl.col("symbol") == "S02", pl.col("month") == date(2019, 4, 1))
    jan_end = closes(bars, "S02").filter(pl.col("date") == date(2019, 1, 28))["close"][0]
    dec_end = month_end_close(bars, "S02", 2018, 12)
    assert row["mret_3"][0] == pytest.approx(jan_end / dec_end - 1, rel=1e-12)  # t-3 = January


def test_whole_suspended_month_breaks_monthly_history():
    bars = make_bars()
    gone = (
        (pl.col("symbol") == "S04")
        & (pl.col("date").dt.month() == 6)
        & (pl.col("date").dt.year() == 2018)
    )
    feats, counts = build_cnn_features_counted(bars.filter(~gone), CnnFeatureConfig())
    # June 2018 is month t-k for t in 2019-03 .. 2019-08 (k = 9 .. 13 or its next month).
    assert "S04" not in feats.filter(pl.col("month") <= date(2019, 8, 1))["symbol"].to_list()
    assert counts.totals()["short_monthly_history"] > 0


def test_bad_input_is_a_user_error():
    bars = make_bars()
    with pytest.raises(UserInputError, match="non-positive"):
        build_cnn_features(
            bars.with_columns(
                close=pl.when(pl.int_range(pl.len()) == 5).then(-1.0).otherwise(pl.col("close"))
            ),
            CnnFeatureConfig(),
        )
    with pytest.raises(UserInputError, match="lacks columns"):
        build_cnn_features(bars.drop("amount"), CnnFeatureConfig())
    with pytest.raises(UserInputError, match="duplicated"):
        build_cnn_features(pl.concat([bars, bars.head(1)]), CnnFeatureConfig())


FEATURE_COLUMNS = ["symbol", "month", "rebalance_date", *RAW_COLUMNS, *X_COLUMNS]


def known_before(feats: pl.DataFrame, cut: date) -> pl.DataFrame:
    return feats.filter(pl.col("rebalance_date") <= cut).select(FEATURE_COLUMNS)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut_offset=st.integers(min_value=320, max_value=430),
    mode=st.sampled_from(["truncate", "scale", "suspend"]),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_bars_after_a_date_change_no_feature_known_by_then(cut_offset, mode, seed):
    bars = make_bars(n_stocks=5, seed=1)
    cut = bars["date"].unique().sort()[cut_offset]
    after = pl.col("date") > cut
    rng = np.random.default_rng(seed)
    if mode == "truncate":
        changed = bars.filter(~after)
    else:
        noise = pl.Series(rng.uniform(0.5, 2.0, bars.height))
        if mode == "scale":
            changed = bars.with_columns(
                *[
                    pl.when(after).then(pl.col(c) * noise).otherwise(pl.col(c))
                    for c in ("open", "high", "low", "close")
                ]
            )
        else:
            off = pl.Series(rng.random(bars.height) < 0.3)
            changed = bars.with_columns(
                volume=pl.when(after & off).then(0.0).otherwise(pl.col("volume"))
            )
    cfg = CnnFeatureConfig()  # weekday calendar: "auto" knows a month-end cut ends its month
    before = known_before(build_cnn_features(bars, cfg), cut)
    later = known_before(build_cnn_features(changed, cfg), cut)
    assert before.height > 0
    assert later.equals(before)


def test_row_order_of_bars_does_not_matter():
    bars = make_bars()
    shuffled = bars.sample(fraction=1.0, shuffle=True, seed=7)
    cfg = CnnFeatureConfig()
    assert build_cnn_features(shuffled, cfg).equals(build_cnn_features(bars, cfg))


def test_too_short_history_gives_an_empty_valid_table_with_counts():
    bars = make_bars(start=date(2019, 1, 1), end=date(2019, 3, 20))
    feats, counts = build_cnn_features_counted(bars, CnnFeatureConfig())
    assert feats.height == 0
    CnnFeaturesSchema.validate(feats, lazy=True)
    assert counts.totals()["short_monthly_history"] == counts.totals()["candidates"] == 12


def test_membership_on_the_rebalance_date_decides_who_is_featured_scored_and_labelled():
    """Non-members neither get rows nor move the members' z-scores or the label median."""
    bars = make_bars(n_stocks=8)
    symbols = sorted(bars["symbol"].unique().to_list())
    # S00..S05 members throughout; S06 joins 2019-05-01 (after April's rebalance date
    # 2019-04-30); S07 leaves on 2019-04-30 (a member on that day, not on May's 2019-05-31).
    periods = [(s, date(2015, 1, 1), date(2030, 1, 1)) for s in symbols[:6]]
    periods += [("S06", date(2019, 5, 1), date(2030, 1, 1))]
    periods += [("S07", date(2015, 1, 1), date(2019, 4, 30))]
    membership = pl.DataFrame(periods, schema=["symbol", "start", "end"], orient="row")
    feats, counts = build_cnn_features_counted(bars, CnnFeatureConfig(), membership)
    by_month = {
        m: sorted(g["symbol"].to_list()) for (m,), g in feats.group_by("month", maintain_order=True)
    }
    assert by_month[date(2019, 5, 1)] == [*symbols[:6], "S07"]  # S06 joins after 04-30
    assert by_month[date(2019, 6, 1)] == [*symbols[:6], "S06"]  # S07 left before 05-31
    may = counts.per_month.filter(pl.col("month") == date(2019, 5, 1))
    assert may["not_member"][0] == 1 and may["candidates"][0] == 7
    # z-scores and labels of May are those of the seven members alone
    alone = build_cnn_features(bars.filter(pl.col("symbol") != "S06"), CnnFeatureConfig())
    mine = feats.filter(pl.col("month") == date(2019, 5, 1)).sort("symbol")
    theirs = alone.filter(pl.col("month") == date(2019, 5, 1)).sort("symbol")
    assert np.allclose(mine.select(X_COLUMNS).to_numpy(), theirs.select(X_COLUMNS).to_numpy())
    assert mine["label"].to_list() == theirs["label"].to_list()
