"""Expanding a sweep grid over the research parameters, and the comparison table."""

from __future__ import annotations

import re

import pytest

from cnnlstm.core.errors import UserInputError
from cnnlstm.flows.params import ResearchParams
from cnnlstm.flows.sweep_grid import PointResult, comparison_table, expand_grid


@pytest.fixture(scope="module")
def base() -> ResearchParams:
    return ResearchParams()


def test_cartesian_product_in_grid_order_with_seeds_last(base):
    points = expand_grid(
        base, {"selection.top_fraction": [0.01, 0.05], "lstm.hidden": [8, 16]}, seeds=[0, 1]
    )
    assert len(points) == 8
    assert points[0].overrides == {
        "selection.top_fraction": 0.01,
        "lstm.hidden": 8,
        "cnn.seed": 0,
        "lstm.seed": 0,
    }
    assert points[1].label == "selection.top_fraction=0.01,lstm.hidden=8,cnn.seed=1,lstm.seed=1"
    assert len({p.label for p in points}) == 8
    last = points[-1].params
    assert last.selection.top_fraction == 0.05
    assert last.lstm.hidden == 16 and last.lstm.seed == 1 and last.cnn.seed == 1


def test_network_overrides_keep_the_profiles_other_settings(base):
    (point,) = expand_grid(base, {"cnn.lr": [0.01]})
    profile_cnn = base.cnn_config()
    assert point.params.cnn.lr == 0.01
    assert point.params.cnn.model_dump(exclude={"lr"}) == profile_cnn.model_dump(exclude={"lr"})
    assert point.params.lstm == base.lstm_config()


def test_the_base_is_not_modified(base):
    before = base.model_dump()
    expand_grid(base, {"selection.top_fraction": [0.02], "cnn_features.min_eligible_stocks": [7]})
    assert base.model_dump() == before


def test_cross_field_rules_of_the_parameters_still_apply(base):
    with pytest.raises(UserInputError, match="must be out of sample"):
        expand_grid(base, {"protocol.test.start": [base.protocol.train.start]})


def test_execution_and_hold_days_are_one_fact_in_the_protocol(base):
    # the LSTM's labels follow the protocol: no second field to keep equal
    (point,) = expand_grid(base, {"protocol.execution": ["close"], "protocol.hold_days": [3]})
    windows = point.params.lstm_window_config()
    assert (windows.execution, windows.horizon) == ("close", 3)
    with pytest.raises(UserInputError, match="execution"):
        expand_grid(base, {"lstm_windows.execution": ["close"]})


def test_empty_grid_is_the_base_alone(base):
    (point,) = expand_grid(base, {})
    assert point.label == "base" and point.overrides == {}
    assert point.params.selection == base.selection


@pytest.mark.parametrize(
    ("grid", "seeds", "message"),
    [
        ({"selection.top_fractoin": [0.1]}, None, "selection.top_fractoin"),
        ({"nothing.here": [1]}, None, "'nothing' is not a parameter"),
        ({"selection.top_fraction": []}, None, "non-empty list"),
        ({"selection.top_fraction": [7.0]}, None, "sweep point selection.top_fraction=7.0"),
        ({"cnn.seed": [1]}, [2], "either as `seeds` or in the grid"),
        ({"cnn.seed": list(range(10)), "lstm.seed": list(range(10))}, None, "max_points=64"),
    ],
)
def test_bad_grids_fail_before_anything_runs(base, grid, seeds, message):
    with pytest.raises(UserInputError, match=re.escape(message)):
        expand_grid(base, grid, seeds)


def test_comparison_table_lines_points_up():
    results = [
        PointResult(label="a", overrides={"x": 1}, run_id="r1", metrics={"m": 0.5, "n": 2.0}),
        PointResult(label="b", overrides={"x": 2, "y": "z"}, run_id=None, metrics={"m": -1.0}),
    ]
    table = comparison_table(results, ["m", "n"])
    assert table.columns == ["point", "mlflow_run", "x", "y", "m", "n"]
    assert table.rows() == [("a", "r1", "1", "None", 0.5, 2.0), ("b", None, "2", "z", -1.0, None)]
