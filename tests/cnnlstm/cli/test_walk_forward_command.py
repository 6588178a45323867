"""`cnnlstm walk-forward` end to end: it reads the flow's typed outcome and says what ran."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["--sim", "n_stocks=30", "--sim", "start=2010-01-01", "--sim", "end=2013-12-31"]
TINY += ["--set", "cnn.epochs=1", "--set", "lstm.epochs=1", "--set", "report.bootstrap_samples=200"]
TINY += ["--train", "2011-03-01:2012-12-31", "--test", "2013-01-01:2013-02-28"]


@pytest.mark.slow  # two monthly CNNs and one LSTM on a tiny market, with MLflow: 1-4 min
def test_walk_forward_command_prints_the_outcome_it_got(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        CNNLSTM_HOME=str(tmp_path / "data"),
        OMP_NUM_THREADS="1",
    )
    argv = ["walk-forward", *TINY, "--train-months", "18", "--lstm-every", "2", "--seeds", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "cnnlstm.cli.main", *argv],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=1500,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "walk-forward over 2 months, LSTM trained 1 times per seed, seeds [0, 1]" in done.stdout
    assert "Table 2" in done.stdout
    assert re.search(r"^MLflow run \w+: open it with `cnnlstm ui --run", done.stdout, re.M)
    found = re.search(r"^results: (\S+)/$", done.stdout, re.MULTILINE)
    assert found and (Path(found.group(1)) / "table2.md").is_file(), done.stdout[-2000:]
