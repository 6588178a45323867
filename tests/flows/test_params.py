"""One parameter path: the same settings mean the same run through every entry point."""

from __future__ import annotations

import json
from datetime import date

import pytest
import yaml

from cnnlstm.cli.main import build_parser
from cnnlstm.cli.research import research_params
from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.params import FAST_LSTM_WINDOWS, ResearchParams
from cnnlstm.flows.sweep import SweepParams

#: A partial configuration: the profile, one field of each network, no training period.
SETTINGS = """
data: {source: sim, sim: {n_stocks: 40, start: "2010-01-01", end: "2014-12-31"}}
profile: paper
cnn: {epochs: 3}
lstm: {hidden: 16}
protocol: {execution: close}
selection: {top_fraction: 0.05}
"""


def _through_the_command_line(tmp_path, tree) -> ResearchParams:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(tree))
    return research_params(build_parser().parse_args(["backtest", "--config", str(path)]))


def _through_a_sweep(tree) -> ResearchParams:
    (point,) = SweepParams.model_validate({"base": tree}).points()
    return point.params


def _through_the_prefect_form(tree) -> ResearchParams:
    return backtest_flow.validate_parameters({"params": tree})["params"]


def _through_a_deployment(tree) -> ResearchParams:
    deployment = backtest_flow.to_deployment(name="same-settings", parameters={"params": tree})
    stored = json.loads(json.dumps(deployment.parameters, default=str))  # as the server keeps them
    return backtest_flow.validate_parameters(stored)["params"]


def test_the_same_settings_give_the_same_parameters_through_every_entry_point(tmp_path):
    tree = yaml.safe_load(SETTINGS)
    runs = {
        "command line": _through_the_command_line(tmp_path, tree),
        "sweep": _through_a_sweep(tree),
        "prefect form": _through_the_prefect_form(tree),
        "deployment": _through_a_deployment(tree),
    }
    effective = {name: p.effective().model_dump(mode="json") for name, p in runs.items()}
    first = effective["command line"]
    for name, dumped in effective.items():
        assert dumped == first, name
    params = runs["prefect form"].effective()
    # a partial network section starts from the run's profile, not the class defaults
    assert (params.cnn.profile, params.cnn.epochs) == ("paper", 3)
    assert (params.lstm.profile, params.lstm.hidden) == ("paper", 16)
    # a missing period: the paper's proportions fitted to the simulation's span
    assert params.protocol.train.start == date(2011, 3, 1)
    assert params.protocol.test.end == date(2014, 12, 31)
    assert params.protocol.execution == "close"


def test_a_partial_period_keeps_what_was_given():
    params = ResearchParams.model_validate(
        {"protocol": {"test": {"start": "2015-01-01", "end": "2016-12-31"}}}
    )
    assert (params.protocol.test.start, params.protocol.test.end) == (
        date(2015, 1, 1),
        date(2016, 12, 31),
    )
    assert params.protocol.train.start == date(2007, 1, 1)  # the paper's, on the default market


def test_fast_profile_fills_the_lstm_sample_and_an_explicit_section_wins():
    fast = ResearchParams.model_validate({"lstm": {"hidden": 8}})
    assert fast.lstm.max_windows == FAST_LSTM_WINDOWS and fast.lstm.hidden == 8
    explicit = ResearchParams.model_validate(
        {"profile": "paper", "cnn": {"profile": "fast", "epochs": 2}}
    )
    assert explicit.cnn.profile == "fast"  # a section that names its profile is taken as given


def test_overrides_by_dotted_path_start_from_the_profile():
    base = ResearchParams(profile="paper")
    changed = base.with_overrides({"cnn.lr": 0.01, "selection.top_fraction": 0.02})
    assert changed.cnn.lr == 0.01 and changed.cnn.profile == "paper"
    assert changed.cnn.model_dump(exclude={"lr"}) == base.cnn_config().model_dump(exclude={"lr"})
    assert changed.lstm is None  # untouched sections stay with the profile
    with pytest.raises(ValueError, match="nothing"):
        base.with_overrides({"nothing.here": 1})


def test_changing_the_profile_by_override_changes_the_unset_sections():
    base = ResearchParams(profile="fast")
    assert base.with_overrides({"profile": "paper"}).lstm_config().max_windows is None
