"""Point-in-time CSI 300 on the shared Qlib sample: only members are picked, members without data
run with a caveat (issue 20's "done when")."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from cnnlstm.cli.main import main
from cnnlstm.tasks.data.universe import is_member, read_membership

pytestmark = pytest.mark.usefixtures("prefect_harness")

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "csi300.yaml"


def _run(sample: Path, out: Path, *extra: str) -> dict:
    argv = [
        "backtest", "--config", str(CONFIG), "--no-mlflow", "--out", str(out),
        "--set", f"data.source=qlib:{sample}", "--set", f"data.benchmark=qlib:{sample}#SH000300",
        "--set", "protocol.train.start=2014-01-01", "--set", "protocol.train.end=2016-12-31",
        "--set", "protocol.test.start=2017-01-01", "--set", "protocol.test.end=2018-06-30",
        "--set", "cnn.epochs=2", "--set", "lstm.epochs=1",
        "--set", "lstm_windows.max_windows_per_month=40", *extra,
    ]  # fmt: skip
    assert main(argv) == 0
    return json.loads((out / "metrics.json").read_text())


def _rebalance_dates(sample: Path, months: pl.Series) -> pl.Series:
    """Each month's rebalance date: the calendar's last trading day before the month."""
    days = pl.Series(
        [date.fromisoformat(x) for x in (sample / "calendars/day.txt").read_text().split()]
    )
    return pl.Series([days.filter(days < m).max() for m in months.to_list()])


def _non_members(sample: Path, picks: pl.DataFrame, membership: pl.DataFrame) -> pl.DataFrame:
    keys = picks.with_columns(rebalance=_rebalance_dates(sample, picks["month"]))
    return keys.filter(~is_member(membership, keys, on="rebalance"))


@pytest.mark.slow  # two flow runs with (tiny) training on 120 real stocks: ~1-2 min
def test_csi300_selects_only_members_and_missing_members_run_with_a_caveat(shared_data, tmp_path):
    sample = shared_data / "cn-qlib-csi300-sample"
    csi300 = read_membership(sample / "instruments" / "csi300.txt")
    metrics = _run(sample, tmp_path / "out")
    picks = pl.read_csv(tmp_path / "out" / "selection.csv", try_parse_dates=True)
    assert picks.height > 0
    assert _non_members(sample, picks, csi300).height == 0
    # every strategy's buys (momentum, the EW universe, CNN, CNN-LSTM) are members on the day
    trades = pl.read_csv(tmp_path / "out" / "trades.csv", try_parse_dates=True)
    buys = (
        trades.filter(pl.col("side") == "buy")
        .select("symbol", month=pl.col("date").dt.month_start())
        .unique()
    )
    assert _non_members(sample, buys, csi300).height == 0
    rule = metrics["universe"]["rule"]
    assert rule.startswith("CSI 300 members on each rebalance date") and "0 member(s)" in rule
    assert not any(c["code"] == "members_without_data" for c in metrics["caveats"])

    # a membership file naming two members that have no data: runs, counted and named
    extra = tmp_path / "members.txt"
    extra.write_text(
        (sample / "instruments" / "csi300.txt").read_text()
        + "SH609998\t2015-01-05\t2026-05-08\nSZ009999\t2016-06-01\t2017-06-30\n"
    )
    metrics = _run(sample, tmp_path / "out2", "--set", f"data.universe={extra}")
    warned = {c["code"]: c["message"] for c in metrics["caveats"]}
    assert "SH609998" in warned["members_without_data"]
    assert "SZ009999" in warned["members_without_data"]
    assert metrics["universe"]["without_data"] == ["SH609998", "SZ009999"]
    assert "2 member(s) without data" in metrics["universe"]["rule"]
    # ... unless the user asks for refusal
    code = main(
        ["backtest", "--config", str(CONFIG), "--no-mlflow", "--out", str(tmp_path / "out3"),
         "--set", f"data.source=qlib:{sample}", "--set", f"data.universe={extra}",
         "--set", "data.missing_members=fail", "--set", f"data.benchmark=qlib:{sample}#SH000300"]
    )  # fmt: skip
    assert code != 0
