"""Two months of the Qlib CSI 300 sample through a real Prefect server, worker and MLflow.

The production path: `prefect deploy --all` from prefect.yaml, a process worker, an MLflow
server; the backtest deployment registers the dataset's champion, then the live deployments
run as the schedule would after a gap (the worker was down): one `monthly-selection` run
publishes every missed month, one `daily-timing` run processes every missed session in order.
Measured before (issue 21): on this data the book held 6,869.906 adjusted "shares" for the
kernel's 10,000 real ones, the order said 6,800, a missed session was never made up, no
champion meant a CNN trained and promoted on the spot, and a second dataset shared the first
one's live folder and book.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from support import PREFECT, mlflow_server, prefect_api, prefect_server

from cnnlstm.flows.params import (
    DataParams,
    LstmWindowParams,
    Period,
    Protocol,
    ResearchParams,
    TrackingParams,
)
from cnnlstm.tasks.backtest import MarketConfig
from cnnlstm.tasks.strategy.select import SelectionConfig
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REBALANCE, FEB_LAST, MAR_1, MAR_2 = (date(2015, 12, 31), date(2016, 2, 29), date(2016, 3, 1),
                                     date(2016, 3, 2))  # fmt: skip


def _research(data: DataParams) -> dict:
    return ResearchParams(
        data=data,
        protocol=Protocol(
            train=Period(start=date(2013, 1, 1), end=date(2015, 6, 30)),
            test=Period(start=date(2015, 7, 1), end=REBALANCE),
        ),
        cnn=CnnTrainConfig(epochs=1), lstm=LstmTrainConfig(epochs=1),
        lstm_windows=LstmWindowParams(max_windows_per_month=20),
        selection=SelectionConfig(top_count=6),
        tracking=TrackingParams(experiment="e2e-qlib"),
    ).model_dump(mode="json")  # fmt: skip


@pytest.mark.server
@pytest.mark.slow  # two servers, a worker, a training and ~45 live sessions: minutes
def test_two_months_of_the_csi300_sample_through_server_worker_and_mlflow(
    tmp_path, shared_data, monkeypatch
):
    root = shared_data / "cn-qlib-csi300-sample"
    data = DataParams(source=f"qlib:{root}")
    with prefect_server(tmp_path) as (api, env), mlflow_server(tmp_path) as mlflow_url:
        env = env | {"MLFLOW_TRACKING_URI": mlflow_url, "CNNLSTM_TORCH_THREADS": "1",
                     "CNNLSTM_LIVE_SOURCE": f"qlib:{root}",
                     "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip

        def cli(*args: str, timeout: float = 300) -> str:
            done = subprocess.run(
                [PREFECT, *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                text=True, timeout=timeout,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            return done.stdout

        def run(deployment: str, params: dict) -> str:
            found = prefect_api(f"{api}/deployments/name/{deployment}")
            created = prefect_api(
                f"{api}/deployments/{found['id']}/create_flow_run",
                {"parameters": {"params": params}},
            )
            cli("worker", "start", "--pool", "local-pool", "--run-once", timeout=1200)
            return prefect_api(f"{api}/flow_runs/{created['id']}")["state"]["type"]

        cli("work-pool", "create", "local-pool", "--type", "process")
        cli("--no-prompt", "deploy", "--all")
        live = {"data": data.model_dump(mode="json"), "market": "cn"}
        monthly, daily = "monthly_selection/monthly-selection", "daily_timing/daily-timing"
        # no champion: red, and nothing trained or promoted on the spot
        assert run(monthly, {**live, "as_of": str(REBALANCE)}) == "FAILED"
        assert run("backtest/backtest", _research(data)) == "COMPLETED"
        assert run(monthly, {**live, "as_of": str(REBALANCE)}) == "COMPLETED"
        assert run(daily, {**live, "as_of": str(REBALANCE)}) == "COMPLETED"
        # the worker was down through January and February: one run of each catches up
        assert run(monthly, {**live, "as_of": str(FEB_LAST)}) == "COMPLETED"  # Feb and March
        assert run(daily, {**live, "as_of": str(FEB_LAST)}) == "COMPLETED"
        assert run(daily, {**live, "as_of": str(MAR_2)}) == "COMPLETED"  # 2016-03-01 missed
        # a second dataset in the same data home (a folder of 40 of the stocks): no champion
        subset = tmp_path / "csi300-subset"
        shutil.copytree(root, subset, ignore=_all_but(sorted(
            p.name for p in (root / "features").iterdir())[:40]))  # fmt: skip
        second = {"data": {"source": f"qlib:{subset}"}, "market": "cn"}
        assert run(monthly, {**second, "as_of": str(REBALANCE)}) == "FAILED"

    monkeypatch.setenv("CNNLSTM_HOME", env["CNNLSTM_HOME"])
    _check_book(data, root, {MAR_1, MAR_2}, subset)


def _all_but(keep: list[str]):  # noqa: ANN202
    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if Path(folder).name == "features" and n not in keep]

    return ignore


def _check_book(data: DataParams, root: Path, caught_up: set[date], subset: Path) -> None:
    """The book equals the backtest kernel trade for trade, in real shares and whole lots."""
    from cnnlstm.core.sessions import exchange_calendar
    from cnnlstm.flows.daily_timing import DailyParams
    from cnnlstm.tasks.data.sources.qlib import load
    from cnnlstm.tasks.live.book_store import BookStore
    from cnnlstm.tasks.live.files import live_dir, read_state, selection_path
    from cnnlstm.tasks.strategy.strategies import StrategySet, run_strategies

    key = DailyParams(data=data).dataset_key()
    days = [date.fromisoformat(d) for d in read_state(key)["days"]]
    assert caught_up <= set(days) and days[-1] == MAR_2
    store = BookStore(dataset=key)
    booked_days = store.navs()["day"].to_list()
    xshg = exchange_calendar("XSHG")
    assert booked_days == [REBALANCE, *xshg.sessions(date(2016, 1, 4), MAR_2)]  # none missing
    assert len(booked_days) == 39 and set(caught_up) <= set(booked_days)
    months = [date(2016, 1, 1), date(2016, 2, 1), date(2016, 3, 1)]
    selection = pl.concat(
        [pl.read_parquet(selection_path(key, m)).select("month", "symbol") for m in months]
    )
    signals = pl.concat([pl.read_parquet(p) for p in sorted(live_dir(key).glob("signals-*"))])
    march_last = date(2016, 3, 31)  # March runs on: 2016-03-02 is not its last session
    bars = load("qlib", str(root)).bars.filter(pl.col("date") <= march_last)
    full = run_strategies(
        bars, StrategySet(universe=selection, cnn=selection, signals=signals),
        MarketConfig.preset("cn"), start=months[0], end=march_last, hold_days=5,
        execution="open",
    ).result  # fmt: skip
    keys = ["day", "symbol", "side", "session"]
    done = (pl.col("strategy") == "cnn_lstm") & (pl.col("date") <= MAR_2)
    kernel = full.trades.filter(done).select(
        pl.col("date").alias("day"), "symbol", "side", "session",
        pl.col("raw_price").alias("price"), pl.col("raw_shares").alias("shares"),
    ).sort(keys)  # fmt: skip
    fills = store.fills().select(kernel.columns).sort(keys)
    assert fills.height > 20 and fills.select(keys).equals(kernel.select(keys))
    for col in ("price", "shares"):
        assert fills[col].to_list() == pytest.approx(kernel[col].to_list(), rel=1e-9)
    buys = fills.filter(pl.col("side") == "buy")["shares"]
    assert ((buys.round(6) % 100) == 0).all()
    costs = store.navs()["costs_to_date"].to_list()
    assert costs == sorted(costs) and costs[-1] > 0  # a running total
    second = DailyParams(data=DataParams(source=f"qlib:{subset}")).dataset_key()
    assert second != key and not list(live_dir(second).glob("selection-*"))
