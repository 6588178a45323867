"""The live commands run the live flows without a server (each starts Prefect's temporary one)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cnnlstm.cli.main import main
from cnnlstm.tasks.data.sources.base import load_source
from cnnlstm.tasks.data.sources.sim import SimConfig

pytestmark = [
    pytest.mark.slow,  # a temporary Prefect server per command: 15-30 s each on 2 busy cores
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def test_orders_on_a_holiday_is_a_no_op_naming_it(capsys):
    assert main(["orders", "--source", "sim", "--as-of", "2016-10-03"]) == 0
    assert "National Day" in capsys.readouterr().out


def test_data_health_fails_red_on_a_stale_feed(tmp_path, capsys):
    cfg = SimConfig(n_stocks=20, start=date(2012, 1, 1), end=date(2013, 12, 31), seed=1)
    bars = load_source("sim", **cfg.model_dump()).bars
    path = tmp_path / "feed.parquet"
    bars.filter(pl.col("date") <= date(2013, 6, 28)).write_parquet(path)
    code = main(["data-health", "--source", f"parquet:{path}", "--as-of", "2013-07-03"])
    captured = capsys.readouterr()
    assert code == 2 and "ends 2013-06-28, needed 2013-07-03" in captured.err + captured.out
