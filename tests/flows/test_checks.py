"""A research flow's first step: bad settings and inputs end the run with one `error:` line."""

from __future__ import annotations

import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.checks import check_inputs, validated
from cnnlstm.flows.params import DataParams, ResearchParams


def _tree(**over) -> dict:
    tree = ResearchParams().model_dump(mode="json")
    tree.update(over)
    return tree


def test_a_train_period_after_the_test_is_one_line_naming_the_field():
    tree = _tree()
    tree["protocol"]["train"] = {"start": "2015-01-01", "end": "2016-12-31"}
    with pytest.raises(UserInputError) as err:
        validated(ResearchParams, tree)
    text = str(err.value)
    assert text.startswith("invalid settings: protocol: ") and "out of sample" in text
    assert "\n" not in text


def test_every_bad_field_is_named_with_the_models_message():
    tree = _tree(selection={"top_fraction": 2})
    with pytest.raises(UserInputError) as err:
        validated(ResearchParams, tree)
    assert "selection.top_fraction: Input should be less than or equal to 1" in str(err.value)


def test_a_model_instance_passes_as_it_is():
    params = ResearchParams()
    assert validated(ResearchParams, params) is params


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (DataParams(source="parquet-ish:/x"), "unknown source kind 'parquet-ish'"),
        (DataParams(source="csv:/no/such/folder"), "data.source csv:/no/such/folder: input path"),
        (DataParams(benchmark="csv:/no/index.csv#IDX"), "data.benchmark"),
    ],
)
def test_unknown_kinds_and_missing_paths_are_refused(data, message):
    with pytest.raises(UserInputError, match=message.replace("(", r"\(")):
        check_inputs(data)


def test_sim_and_online_sources_need_no_path(tmp_path):
    check_inputs(DataParams(source="sim"))
    check_inputs(DataParams(source="yfinance:AAPL,MSFT"))
    check_inputs(DataParams(source=f"csv:{tmp_path}"))


@pytest.fixture()
def half_migrated(mlflow_tmp):
    """The test's MLflow store, left as an interrupted migration leaves it."""
    import sqlite3

    from cnnlstm.infra import tracking_store

    db = mlflow_tmp.removeprefix("sqlite:///")
    tracking_store.forget()
    tracking_store.prepare(mlflow_tmp)
    tracking_store.forget()
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE _alembic_tmp_latest_metrics (key VARCHAR(250))")
    yield db
    tracking_store.forget()


@pytest.mark.parametrize("flow_name", ["backtest", "walk_forward"])
def test_a_half_migrated_store_ends_the_flow_at_its_first_step_in_one_line(
    prefect_harness, half_migrated, tiny_data, tiny_protocol, flow_name, tmp_path
):
    """As a worker runs it (the flow called, not the command line): before, the refusal was a
    traceback from the flow's body (backtest: the trial count; walk-forward: its inner flow)."""
    from cnnlstm.flows.checks import InputRefused

    params = ResearchParams(data=tiny_data, protocol=tiny_protocol)
    if flow_name == "backtest":
        from cnnlstm.flows.backtest import backtest_flow

        state = backtest_flow(params, return_state=True)
    else:
        from cnnlstm.flows.walk_forward import WalkForwardParams, walk_forward_flow

        state = walk_forward_flow(WalkForwardParams(research=params), return_state=True)
    assert state.is_failed()
    assert state.message.startswith("error: MLflow database") and "\n" not in state.message
    assert "half-migrated" in state.message and half_migrated in state.message
    assert isinstance(state.result(raise_on_failure=False), InputRefused)
