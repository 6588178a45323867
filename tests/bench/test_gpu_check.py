"""bench/gpu_check.py refuses clearly where there is no CUDA device (it never measures a CPU)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: it would measure")
def test_gpu_check_refuses_without_cuda():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--skip-protocol"], capture_output=True, text=True
    )
    assert done.returncode == 3
    assert "refused: no CUDA device" in done.stderr
    assert "THROUGHPUT" not in done.stdout
