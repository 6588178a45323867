"""Three backtests that differ in one setting, compared as a researcher compares them (issue 25).

The runs go through the real flow, a real (temporary) Prefect server and MLflow in SQLite: the
default run (its LSTM settings left to the profile), `lstm.hidden=16` and `lstm.hidden=64`.
`cnnlstm compare` must show exactly that setting as the difference and label each curve by its
value; each MLflow run links its Prefect flow run, has a readable name and starts when the flow
did; the CNN checkpoint they share (cached) is one registered version.
"""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from cnnlstm.cli.main import main
from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.params import ResearchParams, TrackingParams
from cnnlstm.tasks.training.networks import CnnTrainConfig


def _params(tiny_data, tiny_protocol, hidden: int | None) -> ResearchParams:
    base = ResearchParams(
        data=tiny_data,
        protocol=tiny_protocol,
        cnn=CnnTrainConfig(epochs=2, batch_size=256),
        lstm_windows={"max_windows_per_month": 60},
        tracking=TrackingParams(experiment="test-compare", model_prefix="c"),
    )
    if hidden is None:
        return base
    return base.model_copy(
        update={"lstm": base.lstm_config().model_copy(update={"hidden": hidden})}
    )


@pytest.mark.slow  # three flow runs with LSTM training on the tiny market: 1-3 min
def test_three_runs_differing_in_one_setting_compare_by_that_setting(
    prefect_harness, tiny_data, tiny_protocol, mlflow_tmp, tmp_path, capsys
):
    outcomes = [backtest_flow(_params(tiny_data, tiny_protocol, h)) for h in (None, 16, 64)]
    client = MlflowClient(mlflow_tmp)
    runs = [client.get_run(o.tracked.run_id) for o in outcomes]
    # the effective configuration: the default run logs the profile's LSTM, not `lstm = None`
    assert "lstm" not in runs[0].data.params
    assert [r.data.params["lstm.hidden"] for r in runs] == ["32", "16", "64"]

    assert main(["compare", *(r.info.run_id for r in runs), "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    params = [line for line in out.splitlines() if line.startswith("| param ")]
    assert params == ["| param lstm.hidden | 32 | 16 | 64 |"]
    assert "| lstm.hidden=32 | lstm.hidden=16 | lstm.hidden=64 |" in out
    assert "(lstm.hidden=32; benchmark (lstm.hidden=32); lstm.hidden=16; lstm.hidden=64)" in out

    for run in runs:
        tags = run.data.tags
        flow_run_id = tags["prefect.flow_run_id"]
        assert tags["prefect.flow_run_url"].endswith(f"/flow-runs/flow-run/{flow_run_id}")
    names = [r.info.run_name for r in runs]
    assert names[0].startswith("backtest sim-") and "lstm.hidden" not in names[0]
    assert "lstm.hidden=16" in names[1] and "lstm.hidden=64" in names[2]
    # one CNN checkpoint (cached by the second and third runs): one registered version
    cnn = next(name for name in outcomes[0].tracked.models if name.endswith("-cnn"))
    assert {o.tracked.models[cnn] for o in outcomes} == {"1"}
    assert len(client.search_model_versions(f"name='{cnn}'")) == 1


@pytest.mark.slow
def test_the_mlflow_run_starts_with_its_flow_run(
    prefect_harness, tiny_data, tiny_protocol, mlflow_tmp
):
    from prefect import get_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    outcome = backtest_flow(_params(tiny_data, tiny_protocol, 16))
    run = MlflowClient(mlflow_tmp).get_run(outcome.tracked.run_id)
    flow_run_id = run.data.tags["prefect.flow_run_id"]

    async def read():
        async with get_client() as prefect:
            return await prefect.read_flow_run(flow_run_id)

    flow_run = run_coro_as_sync(read())
    assert abs(run.info.start_time / 1000 - flow_run.start_time.timestamp()) < 1.0
