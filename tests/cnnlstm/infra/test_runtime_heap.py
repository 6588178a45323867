"""Freed heap memory stays with the process while networks train (glibc), or is left alone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnnlstm.infra import runtime as heap

# 30 training steps of the CNN ranker at batch 512, one thread: its activations and gradients
# (a few MB a step) are what glibc's adaptive trim hands back to the kernel by default.
_PROBE = """
import json, resource
import torch
import torch.nn.functional as F
from cnnlstm.models.cnn import CnnRanker
from cnnlstm.infra.runtime import keep_freed_heap
state = keep_freed_heap()
torch.set_num_threads(1)
torch.manual_seed(0)
net = CnnRanker()
opt = torch.optim.Adam(net.parameters())
x, y = torch.randn(512, 1, 32), torch.randint(0, 2, (512,))
def steps(n):
    for _ in range(n):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
steps(10)  # warm-up: first-use allocations, glibc's thresholds settle
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
steps(30)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"state": state, "faults": faults}))
"""


def _probe(env_value: str | None) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k != heap.KEEP_ENV}
    if env_value is not None:
        env[heap.KEEP_ENV] = env_value
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")
def test_kept_heap_stops_the_page_faults_of_a_training_steps_pattern():
    default = _probe("0")
    kept = _probe(None)
    if kept["state"].startswith("unavailable"):
        pytest.skip(f"not glibc here: {kept['state']}")
    assert default["state"] == f"off: {heap.KEEP_ENV}=0" and kept["state"] == "kept"
    assert default["faults"] > 30 * 200, default  # measured ~1,000 pages a step
    assert kept["faults"] < default["faults"] / 5, (kept, default)


def test_applied_once_and_says_why_not(monkeypatch):
    monkeypatch.setattr(heap, "_heap_state", None)
    monkeypatch.setenv(heap.KEEP_ENV, "0")
    assert heap.keep_freed_heap() == "off: CNNLSTM_KEEP_HEAP=0"
    monkeypatch.delenv(heap.KEEP_ENV)
    assert heap.keep_freed_heap() == "off: CNNLSTM_KEEP_HEAP=0"  # decided once per process
