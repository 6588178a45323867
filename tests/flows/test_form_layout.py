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


def _definition(flow, name: str) -> list[str]:
    return list(parameter_schema(flow.fn).model_dump()["definitions"][name]["properties"])


def test_the_live_forms_open_with_the_day_the_capital_and_the_source():
    """Before: the source's 29 simulator fields came before As Of and Capital (~4,000 px)."""
    from cnnlstm.flows.daily_timing import daily_timing_flow
    from cnnlstm.flows.monthly_selection import monthly_selection_flow

    assert _definition(daily_timing_flow, "DailyParams")[:3] == ["as_of", "capital", "data"]
    assert _definition(monthly_selection_flow, "MonthlyParams")[:2] == ["as_of", "data"]
    data = _definition(daily_timing_flow, "DataParams")
    assert data[0] == "source" and data[-1] == "sim"
