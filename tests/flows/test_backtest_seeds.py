"""Seeds as a protocol dimension through the real flow, Prefect test server and MLflow (SQLite)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient

from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.params import ResearchParams, TrackingParams
from cnnlstm.tasks.report.measures import load_metrics
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _params(tiny_data, tiny_protocol, seeds) -> ResearchParams:
    return ResearchParams(
        data=tiny_data,
        protocol=tiny_protocol,
        cnn=CnnTrainConfig(epochs=2, batch_size=256),
        lstm=LstmTrainConfig(epochs=2, batch_size=256),
        lstm_windows={"max_windows_per_month": 60},
        tracking=TrackingParams(experiment="test-seeds", register_models=False),
        report={"bootstrap_samples": 200, "auc_samples": 100},
        seeds=seeds,
    )


def _annualized(nav: np.ndarray) -> float:
    return float(nav[-1] ** (252 / len(nav)) - 1)


@pytest.mark.slow  # two seeds' trainings and a single-seed run on the tiny market
def test_seeds_train_apart_report_over_seeds_and_log_a_child_run_each(
    tiny_data, tiny_protocol, mlflow_tmp, tmp_path
):
    params = _params(tiny_data, tiny_protocol, (0, 1))
    first = backtest_flow(params, out_dir=str(tmp_path / "out"))
    for stage in ("train_cnn seed 0", "train_cnn seed 1", "train_lstm seed 1", "select ensemble",
                  "signals ensemble", "backtest ensemble", "report", "track"):  # fmt: skip
        assert first.stages[stage] == "Completed", stage
    cnn0, _, cnn1, _ = first.networks
    assert cnn0.checkpoint.fingerprint != cnn1.checkpoint.fingerprint  # trained apart
    metrics = load_metrics((tmp_path / "out" / "metrics.json").read_text())  # typed
    assert metrics.seeds == [0, 1] and "cnn_lstm_ensemble" in metrics.table2
    assert (tmp_path / "out" / "seeds.csv").exists()

    client = MlflowClient(mlflow_tmp)
    parent = client.get_run(first.tracked.run_id)
    assert parent.data.tags["cnnlstm.kind"] == "parent"
    assert parent.data.metrics["dsr.n_trials"] == 2
    assert "caveat.thin_selection" in parent.data.tags  # the top 1% of 60 stocks: one stock
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(c.data.params["seed"] for c in children) == ["0", "1"]
    # each child's daily values give that seed's return; Table 2 is their mean
    net = {}
    for child in children:
        path = client.download_artifacts(child.info.run_id, "ledger/nav.csv", str(tmp_path))
        nav = pl.read_csv(path).filter(pl.col("strategy") == "cnn").sort("date")["nav"]
        net[child.data.params["seed"]] = _annualized(nav.to_numpy())
        seed_metric = child.data.metrics["cnn.annualized_return"]
        assert seed_metric == pytest.approx(net[child.data.params["seed"]])
    assert metrics.table2["cnn"].net_return.mean == pytest.approx(np.mean(list(net.values())))
    assert parent.data.metrics["cnn.net_return"] == pytest.approx(np.mean(list(net.values())))

    # identical re-run: everything from the cache, no new trial
    again = backtest_flow(params)
    assert set(again.stages.values()) == {"Cached"}
    assert again.tracked == first.tracked

    # one seed (0): its trainings are seed 0's cached stages; the report says one seed is thin
    single = backtest_flow(_params(tiny_data, tiny_protocol, (0,)))
    assert single.stages["train_cnn seed 0"] == "Cached"
    assert "single_seed" in single.table2.split("### Table 2")[0]
    n_trials = client.get_run(single.tracked.run_id).data.metrics["dsr.n_trials"]
    assert n_trials == 2  # seed 0 of the same configuration is the same trial, not a new one
