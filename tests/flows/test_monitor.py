"""The monitor flow logs the live model's realized quality to MLflow and alerts under a floor."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from mlflow import MlflowClient

from cnnlstm.flows.monitor import MonitorAlert, MonitorParams, monitor_flow
from cnnlstm.infra import tracking
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.live.files import scores_path, signals_path

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _champion(name: str, tags: dict[str, str]) -> None:
    with tracking.tracked_run("t-monitor") as run:
        tracking.log_params(
            {"lstm_windows.window": 30, "protocol.hold_days": 5, "protocol.execution": "open"}
        )
    client = MlflowClient()
    client.create_registered_model(name)
    v = client.create_model_version(name, run.info.artifact_uri, run_id=run.info.run_id, tags=tags)
    tracking.promote(name, v.version)


def test_monitor_logs_rank_ic_and_hit_rate_and_alerts(tiny_data, mlflow_tmp):
    params = MonitorParams(data=tiny_data, as_of=date(2013, 8, 30), k_months=1)
    _champion(params.registered_name("lstm"), params.dataset().tags())
    bars = load_source("sim", **tiny_data.sim.model_dump()).bars
    # July's "scores": the realized July return itself (a perfect model), so the rank IC is 1
    c0 = bars.filter(pl.col("date") == date(2013, 6, 28)).select("symbol", c0="close")
    c1 = bars.filter(pl.col("date") == date(2013, 7, 31)).select("symbol", c1="close")
    perfect = c0.join(c1, on="symbol").select("symbol", score=pl.col("c1") / pl.col("c0"))
    perfect.write_parquet(scores_path(params.dataset_key(), date(2013, 7, 1)))
    day = date(2013, 7, 2)
    signals = bars.filter(pl.col("date") == day).select("symbol", "date", signal=pl.lit(1, pl.Int8))
    signals.write_parquet(signals_path(params.dataset_key(), day))

    out = monitor_flow(params.model_copy(update={"rank_ic_floor": -1.0, "hit_rate_floor": 0.0}))
    (july,) = out.months  # August's labels are known too, but nothing was published for it
    assert july.month == date(2013, 7, 1) and july.rank_ic == pytest.approx(1.0)
    assert july.decisions > 0 and 0 <= july.hit_rate <= 1 and july.hit_rate_se > 0
    runs = MlflowClient().search_runs(
        [tracking.ensure_experiment("cnnlstm-monitor")], order_by=["start_time DESC"]
    )
    assert runs[0].data.metrics["live.rank_ic"] == pytest.approx(1.0)
    with pytest.raises(MonitorAlert, match="hit rate below 1.01 for 1 months: 2013-07"):
        monitor_flow(params.model_copy(update={"rank_ic_floor": -1.0, "hit_rate_floor": 1.01}))
