"""The parameter-path tracer: the daily timing's parameters object stays in the flow's modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _trace(*args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "param_path.py"), *args],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return out.splitlines()


def test_the_daily_timing_parameters_object_reaches_only_the_flow_and_its_params_module():
    """Before: `DailyParams` itself travelled into `flows/book` too (3 modules)."""
    head, *modules = _trace("--object", str(ROOT))
    assert head.endswith("2 modules, 0 climbs")
    assert [m.strip() for m in modules] == ["cnnlstm.flows.daily_timing", "cnnlstm.flows.live"]


def test_the_parameter_values_never_climb_a_floor():
    head, *_ = _trace(str(ROOT))
    assert head.endswith(" 0 climbs") and "daily_timing_flow" in head
