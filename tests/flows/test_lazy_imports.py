"""A flow module imports without torch and Lightning: a cached run never trains, so it should
not pay their import (~6 s of CPU, most of a cached run's start-up); training imports them."""

from __future__ import annotations

import subprocess
import sys


def test_the_backtest_flow_imports_without_torch_and_training_brings_it():
    script = (
        "import sys\n"
        "import cnnlstm.flows.backtest\n"
        "heavy = [m for m in ('torch', 'pytorch_lightning') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from cnnlstm.tasks.training.networks import _cnn_tensors\n"
        "import polars as pl\n"
        "try:\n"
        "    _cnn_tensors(pl.DataFrame({'symbol': ['a']}))\n"
        "except Exception:\n"
        "    pass\n"
        "assert 'torch' in sys.modules\n"
        "print('OK')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "OK"


def test_a_feature_stage_that_computes_starts_the_training_imports_in_the_background():
    script = (
        "import sys\n"
        "from cnnlstm.infra import runtime as train\n"
        "assert 'pytorch_lightning' not in sys.modules\n"
        "train.prefetch_imports()\n"
        "first = train._prefetch\n"
        "train.prefetch_imports()\n"
        "assert train._prefetch is first  # once per process\n"
        "first.join(300)\n"
        "assert {'torch', 'pytorch_lightning', 'cnnlstm.tasks.training.loop'} <= set(sys.modules)\n"
        "import torch\n"
        "assert torch.zeros(2).sum().item() == 0.0\n"
        "print('OK')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "OK"


def test_the_backtest_flow_imports_without_matplotlib_and_a_figure_brings_it(tmp_path):
    # a cached run draws no figure: matplotlib's import (0.3-0.5 s of CPU) is paid where one is
    script = (
        "import sys\n"
        "import cnnlstm.flows.backtest\n"
        "assert 'matplotlib' not in sys.modules\n"
        "import polars as pl\n"
        "from cnnlstm.tasks.report.tearsheet import _axes\n"
        "_axes('t', 'y')\n"
        "assert 'matplotlib.figure' in sys.modules\n"
        "print('OK')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "OK"
