"""The champion's settings come from its run; a flow's own value must match; lineage is checked."""

from __future__ import annotations

import pytest

from cnnlstm.infra.champion import (
    Champion,
    LineageError,
    agree,
    check_lineage,
    require_next_open,
    settings_from_run,
)
from cnnlstm.infra.tracking import Lineage

RUN = {
    "lstm_windows.window": "30",
    "lstm_windows.horizon": "5",
    "protocol.execution": "open",
    "selection.top_fraction": "0.05",
    "selection.top_count": "None",
}
FOUND = Champion(name="m-lstm", version="3", run_id="r1", tags={}, params=RUN)


def test_settings_are_read_from_the_run_first_key_found():
    settings = settings_from_run(RUN, "r1")
    assert (settings.window, settings.hold_days, settings.execution) == (30, 5, "open")
    assert settings.selection.top_fraction == 0.05 and settings.selection.top_count is None
    with pytest.raises(LineageError, match="run r1 logged no window"):
        settings_from_run({k: v for k, v in RUN.items() if k != "lstm_windows.window"}, "r1")


def test_an_override_must_equal_the_champions_value():
    assert agree("window", None, 30, FOUND) == 30 and agree("window", 30, 30, FOUND) == 30
    with pytest.raises(LineageError, match=r"window=10 differs from the champion's 30 \(m-lstm v3"):
        agree("window", 10, 30, FOUND)


def test_a_champion_for_the_close_cannot_trade_after_it():
    close = settings_from_run({**RUN, "protocol.execution": "close"}, "r1")
    with pytest.raises(LineageError, match="execution='close'"):
        require_next_open(close, FOUND)


def test_a_model_of_another_dataset_is_refused_naming_each_tag():
    live = Lineage(source_kind="qlib", market="cn", universe="abc1234567")
    check_lineage(live.tags(), live, "m v1")
    wrong = {**live.tags(), "universe": "0000000000"}
    with pytest.raises(LineageError, match="m v1 was not trained on this dataset.*universe"):
        check_lineage(wrong, live, "m v1")
