"""The live flows' guards, against a real (temporary) Prefect API and a SQLite MLflow registry.

A holiday is a green no-op naming it; a stale feed fails red with the dates; a run before the
close plus the data delay fails; a champion of another dataset, or whose run was trained with
other settings than the flow asks for, is refused.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from mlflow import MlflowClient

from cnnlstm.flows.daily_timing import DailyParams, daily_timing_flow
from cnnlstm.flows.lineage import lineage_of
from cnnlstm.flows.monthly_selection import MonthlyParams, monthly_selection_flow
from cnnlstm.flows.params import DataParams
from cnnlstm.infra import tracking
from cnnlstm.infra.champion import LineageError
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.live.sessions import StaleDataError, TooEarlyError

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_a_holiday_is_a_green_no_op_naming_it(tiny_data):
    out = daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 10, 1)))
    assert out.status == "no_session" and "National Day" in out.reason
    weekend = daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 7, 6)))
    assert weekend.status == "no_session" and "Saturday" in weekend.reason


@pytest.fixture()
def feed_until_june(tiny_data, tmp_path) -> DataParams:
    """The simulated market as a Parquet feed that stopped after 2013-06-28, on XSHG sessions."""
    bars = load_source("sim", **tiny_data.sim.model_dump()).bars
    path = tmp_path / "feed.parquet"
    bars.filter(pl.col("date") <= date(2013, 6, 28)).write_parquet(path)
    return DataParams(source=f"parquet:{path}")


def test_a_stale_feed_fails_red_with_the_dates(feed_until_june):
    with pytest.raises(StaleDataError, match=r"through 2013-07-02.*ends 2013-06-28"):
        daily_timing_flow(DailyParams(data=feed_until_june, as_of=date(2013, 7, 2)))
    # the monthly selection for September needs August's last session (2013-08-30)
    with pytest.raises(StaleDataError, match=r"2013-09.*through 2013-08-30.*ends 2013-06-28"):
        monthly_selection_flow(MonthlyParams(data=feed_until_june, as_of=date(2013, 9, 2)))


def test_a_run_before_the_close_plus_delay_fails(feed_until_june):
    early = datetime(2013, 6, 28, 7, 30, tzinfo=UTC)  # 15:30 in Shanghai, the delay is 60 min
    with pytest.raises(TooEarlyError, match="not complete"):
        daily_timing_flow(DailyParams(data=feed_until_june, as_of=date(2013, 6, 28), now=early))


def _register(name: str, tags: dict[str, str], params: dict[str, object]) -> str:
    """A model version under `name` tagged `tags`, whose run logged `params`, made champion."""
    with tracking.tracked_run("t-live-guards") as run:
        tracking.log_params(params)
    client = MlflowClient()
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(
        name, source=run.info.artifact_uri, run_id=run.info.run_id, tags=tags
    )
    tracking.promote(name, version.version)
    return version.version


RUN_PARAMS = {
    "lstm_windows.window": 30,
    "protocol.hold_days": 5,
    "protocol.execution": "open",
    "selection.top_fraction": 0.05,
}


def test_a_champion_of_another_dataset_is_refused(tiny_data, mlflow_tmp):
    params = DailyParams(data=tiny_data, as_of=date(2013, 7, 2))
    other = tiny_data.model_copy(
        update={"sim": tiny_data.sim.model_copy(update={"effects": "none"})}
    )
    assert lineage_of(other, "cn").dataset != params.dataset().dataset  # a pure random walk
    _register(params.registered_name("lstm"), lineage_of(other, "cn").tags(), RUN_PARAMS)
    with pytest.raises(LineageError, match="not trained on this dataset.*universe"):
        daily_timing_flow(params)


def test_live_settings_come_from_the_champion_run(tiny_data, mlflow_tmp):
    params = DailyParams(data=tiny_data, as_of=date(2013, 7, 2), window=10)
    _register(params.registered_name("lstm"), params.dataset().tags(), RUN_PARAMS)
    with pytest.raises(LineageError, match="window=10 differs from the champion's 30"):
        daily_timing_flow(params)
    with pytest.raises(LineageError, match="hold_days=2 differs from the champion's 5"):
        daily_timing_flow(params.model_copy(update={"window": None, "hold_days": 2}))


def test_data_health_reports_and_fails_red_when_stale(feed_until_june, tiny_data):
    from cnnlstm.flows.data_health import HealthParams, data_health_flow

    with pytest.raises(StaleDataError, match=r"ends 2013-06-28, needed 2013-07-02"):
        data_health_flow(HealthParams(data=feed_until_june, as_of=date(2013, 7, 2)))
    health = data_health_flow(HealthParams(data=tiny_data, as_of=date(2013, 7, 6)))  # a Saturday
    assert health.fresh and health.needed == date(2013, 7, 5)
    assert health.symbols_recent > 0 and 0 <= health.suspended_share < 1
    assert any("suspended on 2013-07-05" in line for line in health.lines())


def test_live_retries_are_for_transient_errors_only():
    from prefect import flow, task

    from cnnlstm.flows.ops import retry_transient

    calls = {"network": 0, "stale": 0}

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_transient)
    def flaky(kind: str) -> None:
        calls[kind] += 1
        raise ConnectionError("reset by peer") if kind == "network" else StaleDataError("stale")

    @flow
    def run(kind: str) -> None:
        flaky(kind)

    with pytest.raises(ConnectionError):
        run("network")
    with pytest.raises(StaleDataError):
        run("stale")
    assert calls == {"network": 3, "stale": 1}  # retried twice / failed at once


def test_data_health_fails_past_the_calendars_end_and_warns_before(tiny_data):
    """A synthetic end date: the simulated market's calendar ends 2013-12-31.

    Measured before: past the end, `data-health` checked the calendar's last session and
    reported fresh (the shipped defaults checked 2017-12-29 in 2026), and gave no warning.
    """
    from cnnlstm.core.sessions import CalendarEndedError
    from cnnlstm.flows.data_health import HealthParams, data_health_flow

    with pytest.raises(CalendarEndedError, match="past the SIM calendar's last day 2013-12-31"):
        data_health_flow(HealthParams(data=tiny_data, now=datetime(2014, 1, 6, 12, 0, tzinfo=UTC)))
    soon = data_health_flow(
        HealthParams(data=tiny_data, now=datetime(2013, 12, 10, 12, 0, tzinfo=UTC))
    )
    assert soon.fresh and soon.needed == date(2013, 12, 10)  # today's session, closed
    (warning,) = soon.warnings
    assert "ends 2013-12-31" in warning and "calendar_extra" in warning
    early = data_health_flow(HealthParams(data=tiny_data, as_of=date(2013, 11, 1)))
    assert early.warnings == []


def test_no_champion_fails_red_naming_what_to_run_and_registers_nothing(tiny_data, mlflow_tmp):
    """Measured before: with no champion, monthly-selection trained a CNN on the spot (7
    epochs), made it @champion and published its selection, green."""
    from cnnlstm.infra.champion import NoChampionError

    params = MonthlyParams(data=tiny_data, as_of=date(2013, 6, 28))
    with pytest.raises(NoChampionError, match=r"run `cnnlstm backtest`.*market cn"):
        monthly_selection_flow(params)
    assert MlflowClient().search_registered_models() == []
    with pytest.raises(NoChampionError, match="no model"):
        daily_timing_flow(DailyParams(data=tiny_data, as_of=date(2013, 7, 2)))
