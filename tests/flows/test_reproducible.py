"""Reproducible by default: one command gives the same bytes on a quiet and on a busy machine.

Before, the default torch thread count followed the machine's momentary load (1 thread when
another task was runnable, 2 on a quiet 2-core machine), so two runs of one command could differ
in the last digits of every trained number, and `metrics.json` carried the fit's wall seconds;
the EW universe index's daily mean was summed in a varying order (its statistics' last digits
differed between identical runs).
The load signal is faked here (the kernel's runnable-task count and the load average), so the
test does not depend on what else this machine runs.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import torch

import cnnlstm.infra.runtime as th
from cnnlstm.flows.backtest import backtest_flow
from cnnlstm.flows.params import ResearchParams, TrackingParams
from cnnlstm.tasks.training.networks import CnnTrainConfig, LstmTrainConfig

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _run(tmp_path, name, monkeypatch, tiny_data, tiny_protocol, *, busy: bool):
    monkeypatch.setenv("CNNLSTM_HOME", str(tmp_path / f"home-{name}"))
    monkeypatch.delenv(th.THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(th, "available_cores", lambda: 2)  # a 2-core machine, either way
    monkeypatch.setattr(th, "runnable_others", lambda *a, **k: 3.0 if busy else 0.0)
    monkeypatch.setattr(os, "getloadavg", lambda: (4.0, 4.0, 4.0) if busy else (0.0, 0.0, 0.0))
    params = ResearchParams(
        data=tiny_data,
        protocol=tiny_protocol,
        cnn=CnnTrainConfig(epochs=2, batch_size=256),
        lstm=LstmTrainConfig(epochs=2, batch_size=256),
        lstm_windows={"max_windows_per_month": 60},
        tracking=TrackingParams(enabled=False),
    )
    out = tmp_path / f"out-{name}"
    outcome = backtest_flow(params, out_dir=str(out))
    return out, outcome


def _flat(obj, prefix=""):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _flat(value, f"{prefix}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _flat(value, f"{prefix}[{i}]")
    else:
        yield prefix, obj


def _differing(a, b) -> list[str]:
    """The metrics.json paths whose values differ (the assertion's message)."""
    left = dict(_flat(json.loads((a / "metrics.json").read_text())))
    right = dict(_flat(json.loads((b / "metrics.json").read_text())))
    return [f"{k}: {left.get(k)} vs {right.get(k)}" for k in left if left.get(k) != right.get(k)]


def _weights(ref) -> bytes:
    state = torch.load(ref.checkpoint.local_path(), map_location="cpu", weights_only=True)
    tensors = state["state_dict"]
    return b"".join(k.encode() + tensors[k].numpy().tobytes() for k in sorted(tensors))


@pytest.mark.slow  # two fresh flow runs with training: minutes on a busy 2-core machine
def test_the_default_run_is_byte_identical_under_a_busy_and_a_quiet_load_signal(
    tmp_path, monkeypatch, tiny_data, tiny_protocol
):
    quiet, quiet_run = _run(tmp_path, "quiet", monkeypatch, tiny_data, tiny_protocol, busy=False)
    busy, busy_run = _run(tmp_path, "busy", monkeypatch, tiny_data, tiny_protocol, busy=True)
    for name in ("trades.csv", "nav.csv", "selection.csv", "signals.csv"):
        assert (quiet / name).read_bytes() == (busy / name).read_bytes(), name
    for a, b in zip(quiet_run.networks, busy_run.networks, strict=True):
        assert hashlib.sha256(_weights(a)).digest() == hashlib.sha256(_weights(b)).digest()
        assert a.checkpoint.local_path().read_bytes() == b.checkpoint.local_path().read_bytes()
        assert a.metrics["torch_threads"] == b.metrics["torch_threads"] == 2.0  # the cores
    metrics = json.loads((quiet / "metrics.json").read_text())
    used = metrics["per_seed"]["0"]["training"]["cnn"][0]["torch_threads"]
    assert used == 2.0  # the report records the thread count used
    assert "fit_seconds" not in (quiet / "metrics.json").read_text()
    assert _differing(quiet, busy) == []  # the EW index's last digits differed before
    assert (quiet / "metrics.json").read_bytes() == (busy / "metrics.json").read_bytes()
