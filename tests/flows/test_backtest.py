from __future__ import annotations

import polars as pl
import pytest
from mlflow import MlflowClient

import cnnlstm.flows.stages.strategy as strategy_stages
from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.lineage import lineage_of
from cnnlstm.flows.params import ResearchParams, TrackingParams
from cnnlstm.infra import tracking
from cnnlstm.tasks.report.measures import dump_metrics, load_metrics
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

pytestmark = pytest.mark.usefixtures("prefect_harness")

STAGES = [
    "ingest", "validate", "cnn_features", "lstm_windows", "train_cnn", "train_lstm",
    "select", "signals", "backtest", "report",
]  # fmt: skip


def _params(tiny_data, tiny_protocol, *, lstm_lr=1e-3, tracking_on=True) -> ResearchParams:
    return ResearchParams(
        data=tiny_data,
        protocol=tiny_protocol,
        cnn=CnnTrainConfig(epochs=2, batch_size=256),
        lstm=LstmTrainConfig(epochs=2, batch_size=256, lr=lstm_lr),
        lstm_windows={"max_windows_per_month": 60},
        tracking=TrackingParams(enabled=tracking_on, experiment="test-backtest", model_prefix="t"),
    )


@pytest.mark.slow  # three flow runs with training: about 40 s idle, 2 min on a busy 2-core box
def test_cache_hits_partial_rerun_and_mlflow_run(tiny_data, tiny_protocol, mlflow_tmp, tmp_path):
    params = _params(tiny_data, tiny_protocol)
    first = backtest_flow(params, out_dir=str(tmp_path / "out"))
    assert first.stages == dict.fromkeys([*STAGES, "track"], "Completed")
    assert "| Annualized return, net of costs |" in first.table2
    exported = {p.name for p in (tmp_path / "out").iterdir()}
    assert {
        "table2.md",
        "table2.csv",
        "metrics.json",
        "fig4_net_value.png",
        "report.html",
        "trades.csv",
        "selection.csv",
        "signals.csv",
        "stages.csv",
        "config.yaml",
    } <= exported
    written = (tmp_path / "out" / "metrics.json").read_text()
    assert dump_metrics(load_metrics(written)) == written  # typed, and its own dump
    stages_csv = (tmp_path / "out" / "stages.csv").read_text().splitlines()
    assert stages_csv[0] == "stage,result,seconds,cache_hit,peak_rss_mib"
    assert len(stages_csv) > len(STAGES)
    assert not [line for line in stages_csv if "NaN" in line]  # the trainings (submitted) too
    peaks = pl.read_csv(tmp_path / "out" / "stages.csv")["peak_rss_mib"]
    assert (peaks > 50).all()  # the process's resident memory (Python, torch, polars: > 50 MiB)

    # an identical re-run: every stage from the cache, the same MLflow run, no new model version
    second = backtest_flow(params)
    assert set(second.stages.values()) == {"Cached"}
    assert second.tracked == first.tracked and second.report == first.report

    # an LSTM parameter change re-runs LSTM training and what follows, nothing before it
    third = backtest_flow(_params(tiny_data, tiny_protocol, lstm_lr=5e-3))
    rerun = ["train_lstm", "signals", "backtest", "report", "track"]
    assert [s for s, state in third.stages.items() if state == "Completed"] == rerun
    assert third.networks[0] == first.networks[0] and third.networks[1] != first.networks[1]

    # the MLflow run holds parameters, curves, metrics, report files, ledger and models
    client = MlflowClient(mlflow_tmp)
    run = client.get_run(first.tracked.run_id)
    assert run.data.params["protocol.train.start"] == "2011-03-01"
    assert run.data.params["lstm_windows.max_windows_per_month"] == "60"
    assert (
        "cnn_lstm.sharpe" in run.data.metrics and "benchmark.annualized_return" in run.data.metrics
    )
    curve = client.get_metric_history(run.info.run_id, "lstm/train/loss")
    assert sorted(m.step for m in curve) == [0, 1]
    assert any(k.startswith("cnn/val/") for k in run.data.metrics)
    assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}
    names = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert {"report/table2.md", "report/fig4_net_value.png", "report/metrics.json",
            "report/report.html"} <= names  # fmt: skip
    assert first.tracked.tear_sheet.endswith("/report/report.html")
    assert {a.path for a in client.list_artifacts(run.info.run_id, "ledger")} == {
        "ledger/trades.csv",
        "ledger/nav.csv",
    }
    key = lineage_of(params.data, params.market).dataset  # registered per dataset (issue 12)
    cnn_name, lstm_name = f"t-{key}-cnn", f"t-{key}-lstm"
    assert first.tracked.models == {cnn_name: "1", lstm_name: "1"}
    assert tracking.alias_version(lstm_name, tracking.CHALLENGER).version == "2"  # third run
    assert third.tracked.models[cnn_name] == "1"  # its cached CNN checkpoint: the same version
    champion = tracking.alias_version(cnn_name, tracking.CHAMPION)
    assert champion is not None and champion.run_id in {first.tracked.run_id, third.tracked.run_id}
    module, _ = tracking.load_model(cnn_name)
    assert module(__import__("torch").zeros(3, 1, 32)).shape == (3, 2)


def test_resume_after_a_failure_in_a_middle_stage(tiny_data, tiny_protocol, monkeypatch):
    params = _params(tiny_data, tiny_protocol, tracking_on=False)

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure in the backtest stage")

    with monkeypatch.context() as patched:
        patched.setattr(strategy_stages, "run_prepared", broken)
        with pytest.raises(RuntimeError, match="injected failure"):
            backtest_flow(params)
    resumed = backtest_flow(params)
    done_before = STAGES[: STAGES.index("backtest")]
    assert [s for s, state in resumed.stages.items() if state == "Cached"] == done_before
    assert [s for s, state in resumed.stages.items() if state == "Completed"] == [
        "backtest",
        "report",
    ]
