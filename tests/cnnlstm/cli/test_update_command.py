"""`cnnlstm update`: red (exit 2, one error block) until the vendor's file for the session
arrives, then green with what changed; the live commands refuse the simulator unless allowed."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from support import random_walk_bars

from cnnlstm.cli.main import main
from cnnlstm.core.sessions import exchange_calendar

DAYS = pl.Series(exchange_calendar("XSHG").sessions(date(2026, 5, 6), date(2026, 6, 5)))


@pytest.mark.slow  # a temporary Prefect server per command: 15-30 s each on 2 busy cores
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_update_is_red_until_the_session_arrives(tmp_path, capsys):
    bars = random_walk_bars(4, DAYS, seed=2)
    feed = tmp_path / "feed"
    feed.mkdir()
    bars.filter(pl.col("date") < DAYS[-1]).write_parquet(feed / "history.parquet")
    args = ["update", "--source", f"parquet:{feed}", "--as-of", str(DAYS[-1])]
    assert main(args) == 2
    assert "did not advance to 2026-06-05" in capsys.readouterr().err
    bars.filter(pl.col("date") == DAYS[-1]).write_parquet(feed / "2026-06-05.parquet")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "-> 2026-06-05 (reached the expected 2026-06-05)" in out and "rows added: 4" in out


def test_live_commands_refuse_the_simulator_with_one_error(monkeypatch, capsys):
    monkeypatch.delenv("CNNLSTM_LIVE_ALLOW_SIMULATOR")
    assert main(["orders", "--as-of", "2016-03-03"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the live flows need a real source") and "--allow-simulator" in err
