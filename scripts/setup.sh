#!/usr/bin/env bash
# Create .venv and install the project with its test extras (idempotent).
# A second run with nothing changed skips the installs (a few seconds instead of ~70 s): the
# stamp .venv/.cnnlstm-installed holds a hash of pyproject.toml, this script and the Python
# version; delete it (or set CNNLSTM_REINSTALL=1) to force a reinstall.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
STAMP=.venv/.cnnlstm-installed
# CNNLSTM_EXTRAS: more extras, comma-separated (e.g. CNNLSTM_EXTRAS=online for AkShare/yfinance)
EXTRAS="dev,dask,postgres,auth${CNNLSTM_EXTRAS:+,$CNNLSTM_EXTRAS}"
WANT=$( { cat pyproject.toml scripts/setup.sh; echo "$EXTRAS"; .venv/bin/python -V; } | sha256sum | cut -d' ' -f1)
if [ "${CNNLSTM_REINSTALL:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
  && [ -x .venv/bin/cnnlstm ]; then
  echo "setup: .venv is up to date with pyproject.toml (CNNLSTM_REINSTALL=1 to reinstall)"
  exit 0
fi
rm -f "$STAMP"
# torch first and pinned: the CPU wheel found working here (../shared/STACK.md); an unpinned
# torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install -q -e ".[$EXTRAS]" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import torch, pytorch_lightning, prefect, mlflow, polars, pandera.polars, numba, yaml" \
  || { echo "setup failed: a required package did not install" >&2; exit 1; }
echo "$WANT" > "$STAMP"
