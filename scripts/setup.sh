#!/usr/bin/env bash
# Create .venv and install the project with its test extras (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch first and pinned: the CPU wheel found working here (../shared/STACK.md); an unpinned
# torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install -q -e ".[dev,dask,postgres]" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import torch, pytorch_lightning, prefect, mlflow, polars, pandera.polars, numba" \
  || { echo "setup failed: a required package did not install" >&2; exit 1; }
