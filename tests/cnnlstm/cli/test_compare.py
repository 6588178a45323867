from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from cnnlstm.cli.main import main
from cnnlstm.infra import tracking

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow.store.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:sqlalchemy.*"),
]


def _log(lr: float, sharpe: float, growth: float) -> str:
    nav = pl.DataFrame(
        {
            "date": [date(2020, 1, d) for d in (2, 3, 6)] * 2,
            "strategy": ["cnn_lstm"] * 3 + ["benchmark"] * 3,
            "nav": [1.0, growth, growth**2, 1.0, 1.01, 1.02],
        }
    )
    with tracking.tracked_run("cmp-test") as run:
        tracking.log_params({"lstm": {"lr": lr}, "market": "cn"})
        tracking.log_metrics({"cnn_lstm": {"sharpe": sharpe}})
        tracking.log_frame(nav, "ledger/nav.csv")
    return run.info.run_id


def test_compare_shows_differing_params_metrics_and_chart(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    first = _log(0.001, 0.5, 1.05)
    second = _log(0.01, 1.25, 1.10)
    out_dir = tmp_path / "cmp"
    assert main(["compare", "--experiment", "cmp-test", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "param lstm.lr" in out and "param market" not in out  # only what differs
    assert "| metric cnn_lstm.sharpe | 0.5000 | 1.2500 |" in out
    # runs are labelled by what differs between them, the curves too
    assert "| lstm.lr=0.001 | lstm.lr=0.01 |" in out
    assert "compare_net_value.png (lstm.lr=0.001; benchmark (lstm.lr=0.001); lstm.lr=0.01)" in out
    assert (out_dir / "compare_net_value.png").stat().st_size > 1000
    assert "lstm.lr=0.01" in (out_dir / "compare.md").read_text()
    assert f"results: {out_dir}/" in out
    # explicit runs, in the order given
    assert (
        main(["compare", second, first, "--metric", "cnn_lstm.sharpe", "--out", str(out_dir)]) == 0
    )
    assert "| metric cnn_lstm.sharpe | 1.2500 | 0.5000 |" in capsys.readouterr().out


def test_compare_writes_into_its_own_out_folder_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    _log(0.001, 0.5, 1.05)
    _log(0.01, 1.25, 1.10)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["compare", "--experiment", "cmp-test"]) == 0
    assert not list(work.glob("*.png"))  # never into the working directory itself
    (folder,) = (work / "out").glob("compare-*")
    assert (folder / "compare_net_value.png").is_file()
    assert f"results: {folder}/" in capsys.readouterr().out


def test_compare_explains_a_missing_experiment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert main(["compare", "--experiment", "nope"]) == 2
    assert "no MLflow experiment 'nope'" in capsys.readouterr().err
