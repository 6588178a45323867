"""The backtest's Prefect form: what users set comes first, descriptions render, no duplicates."""

from __future__ import annotations

import json
import re

from prefect.utilities.callables import parameter_schema

from cnnlstm.flows.backtest import backtest_flow


def _schema() -> dict:
    return parameter_schema(backtest_flow.fn).model_dump()


def test_the_first_section_holds_what_users_set():
    research = _schema()["definitions"]["ResearchParams"]["properties"]
    assert list(research)[:5] == ["data", "protocol", "profile", "market", "seeds"]
    data = list(_schema()["definitions"]["DataParams"]["properties"])
    assert data[:3] == ["source", "source_options", "benchmark"]
    assert data[-1] == "sim"  # the simulated market's 30 fields no longer open the form
    advanced = [k for k, v in research.items() if v.get("title", "").startswith("Advanced")]
    assert {"cnn", "lstm", "cnn_features", "lstm_windows", "selection", "report"} <= set(advanced)


def test_descriptions_render_in_the_ui():
    # the UI renders descriptions as markdown/HTML: a <word> is taken for a tag and vanishes
    text = json.dumps(_schema())
    assert not re.findall(r"<[A-Za-z_][\w-]*>", text)


def test_no_field_must_equal_another():
    windows = _schema()["definitions"]["LstmWindowParams"]["properties"]
    assert "horizon" not in windows and "execution" not in windows  # derived from protocol
