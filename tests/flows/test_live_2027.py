"""The live flows past exchange-calendars' last day (2026-12-31), with a user holiday file.

Measured before (issue 21): on 2026-12-31 the January selection failed ("2027-01-01 is outside
the XSHG calendar"), daily timing failed the same day, every live flow failed from 2027-01-04,
and there was no way to supply the 2027 sessions. Here a feed on XSHG's sessions and the
2027 sessions of a user file runs the whole chain on 2026-12-31 and 2027-01-04 (a synthetic
clock, not by waiting).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from support import random_walk_bars

from cnnlstm.core.sessions import CalendarEndedError
from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.daily_timing import DailyParams, daily_timing_flow
from cnnlstm.flows.data_health import HealthParams, data_health_flow
from cnnlstm.flows.live import session_calendar
from cnnlstm.flows.monthly_selection import MonthlyParams, monthly_selection_flow
from cnnlstm.flows.params import (
    DataParams,
    LstmWindowParams,
    Period,
    Protocol,
    ResearchParams,
    TrackingParams,
)
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
NEW_YEAR_EVE, FIRST_2027 = date(2026, 12, 31), date(2027, 1, 4)
HOLIDAYS_2027 = "through 2027-03-31\n2027-01-01 New Year's Day\n2027-02-08 Spring Festival\n"


@pytest.fixture()
def feed_2027(tmp_path) -> tuple[DataParams, object]:
    extra = tmp_path / "xshg-2027.txt"
    extra.write_text(HOLIDAYS_2027)
    path = tmp_path / "feed.parquet"
    # the feed's own calendar: XSHG's sessions (not the simulator's), then the file's 2027 ones
    cal = session_calendar(DataParams(source=f"parquet:{path}"), "cn", None, extra)
    days = pl.Series(cal.sessions(date(2022, 1, 4), FIRST_2027), dtype=pl.Date)
    bars = random_walk_bars(40, days, seed=4)
    bars = bars.with_columns(symbol=pl.col("symbol").str.replace("S", "6000"))
    bars.write_parquet(path)
    return DataParams(source=f"parquet:{path}"), extra


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai


def test_the_live_chain_runs_into_2027_with_a_holiday_file(feed_2027, mlflow_tmp):
    data, extra = feed_2027
    research = ResearchParams(
        data=data,
        protocol=Protocol(
            train=Period(start=date(2023, 3, 1), end=date(2025, 12, 31)),
            test=Period(start=date(2026, 1, 1), end=NEW_YEAR_EVE),
        ),
        cnn=CnnTrainConfig(epochs=1), lstm=LstmTrainConfig(epochs=1),
        lstm_windows=LstmWindowParams(max_windows_per_month=30),
        tracking=TrackingParams(experiment="t-2027"),
    )  # fmt: skip
    assert backtest_flow(research).tracked.promoted
    # without the file: the library's calendar ends on 2026-12-31
    with pytest.raises(CalendarEndedError, match="calendar_extra"):
        monthly_selection_flow(MonthlyParams(data=data, as_of=NEW_YEAR_EVE, now=_at(FIRST_2027)))
    live = {"data": data, "calendar_extra": extra}
    picked = monthly_selection_flow(MonthlyParams(**live, as_of=NEW_YEAR_EVE, now=_at(FIRST_2027)))
    assert picked.month == date(2027, 1, 1) and picked.rebalance_date == NEW_YEAR_EVE
    eve = daily_timing_flow(DailyParams(**live, as_of=NEW_YEAR_EVE, now=_at(FIRST_2027)))
    assert eve.trade_date == FIRST_2027
    first = daily_timing_flow(DailyParams(**live, as_of=FIRST_2027, now=_at(FIRST_2027)))
    assert first.status == "orders" and first.trade_date == date(2027, 1, 5)
    assert first.book is not None and first.book.reconciled
    health = data_health_flow(HealthParams(**live, now=_at(FIRST_2027)))
    assert health.fresh and health.needed == FIRST_2027
    assert health.warnings == []  # the file runs to 2027-03-31: more than 20 sessions left
    with pytest.raises(CalendarEndedError, match="past the XSHG calendar's last day 2026-12-31"):
        data_health_flow(HealthParams(data=data, now=_at(FIRST_2027)))
