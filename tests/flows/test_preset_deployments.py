"""prefect.yaml's preset deployments run what configs/*.yaml say, with valid parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.utilities.callables import parameter_schema

from cnnlstm.cli.main import build_parser
from cnnlstm.cli.research import research_params
from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.params import ResearchParams

ROOT = Path(__file__).resolve().parents[2]
PRESETS = {"backtest-paper": "paper.yaml", "backtest-csi300": "csi300.yaml",
           "backtest-sp500": "sp500.yaml"}  # fmt: skip


def _deployments() -> dict[str, dict]:
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in spec["deployments"]}


@pytest.mark.parametrize(("name", "config"), sorted(PRESETS.items()))
def test_a_preset_deployment_is_its_config_file(name, config):
    deployment = _deployments()[name]
    assert deployment["entrypoint"] == "flows/backtest.py:backtest_flow"
    assert set(deployment["parameters"]) <= set(parameter_schema(backtest_flow.fn).properties)
    from_deployment = ResearchParams.model_validate(deployment["parameters"]["params"])
    args = build_parser().parse_args(["backtest", "--config", str(ROOT / "configs" / config)])
    assert from_deployment == research_params(args)
