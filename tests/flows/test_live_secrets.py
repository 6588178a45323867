"""No password in any output of a live run whose paper book is on a real PostgreSQL.

The book URL (`CNNLSTM_BOOK_URL`, with the role's password) reaches the daily timing flow; the
flow's outcome, its logs and the `cnnlstm orders` command's output must show `user:***@` only.
"""

from __future__ import annotations

import logging
from datetime import date

import polars as pl
import pytest
from test_postgres_backends import ROLE_PASSWORDS, postgres  # noqa: F401 - the fixture

from cnnlstm.cli.main import main
from cnnlstm.core.sessions import calendar_name, exchange_calendar
from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.daily_timing import DailyParams, daily_timing_flow
from cnnlstm.flows.monthly_selection import MonthlyParams, monthly_selection_flow
from cnnlstm.flows.params import DataParams, LstmWindowParams, ResearchParams, TrackingParams
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.usefixtures("prefect_harness")]


def test_no_password_in_the_outputs_of_a_live_run_on_postgres(
    postgres,  # noqa: F811 - the imported fixture
    tiny_data, tiny_protocol, mlflow_tmp, tmp_path, monkeypatch, capsys, caplog,
):  # fmt: skip
    password = ROLE_PASSWORDS["mlflow"]
    url = f"postgresql+psycopg://mlflow:{password}@127.0.0.1:{postgres['port']}/mlflow"
    monkeypatch.setenv("CNNLSTM_BOOK_URL", url)
    caplog.set_level(logging.DEBUG)
    feed = tmp_path / "feed.parquet"
    bars = load_source("sim", **tiny_data.sim.model_dump()).bars
    # a real feed's bars are on the exchange's sessions (the simulator keeps its own holidays)
    xshg = exchange_calendar(calendar_name("cn"))
    sessions = pl.Series(list(xshg.sessions(bars["date"].min(), bars["date"].max())), dtype=pl.Date)
    bars.filter(pl.col("date").is_in(sessions.implode())).write_parquet(feed)
    data = DataParams(source=f"parquet:{feed}")
    research = ResearchParams(
        data=data,
        protocol=tiny_protocol,
        cnn=CnnTrainConfig(epochs=1),
        lstm=LstmTrainConfig(epochs=1),
        lstm_windows=LstmWindowParams(max_windows_per_month=40),
        tracking=TrackingParams(experiment="t-live-secrets"),
    )
    assert backtest_flow(research).tracked.promoted
    monthly_selection_flow(MonthlyParams(data=data, as_of=date(2013, 6, 28)))
    outcome = daily_timing_flow(DailyParams(data=data, as_of=date(2013, 6, 28)))
    assert outcome.book is not None and outcome.book.url.startswith(
        "postgresql+psycopg://mlflow:***@"
    )
    code = main(["orders", "--source", f"parquet:{feed}", "--as-of", "2013-07-01"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "mlflow:***@127.0.0.1" in printed.out
    outputs = {
        "outcome": outcome.model_dump_json(),
        "stdout": printed.out,
        "stderr": printed.err,
        "logs": caplog.text,
    }
    for name, text in outputs.items():
        assert password not in text, name
