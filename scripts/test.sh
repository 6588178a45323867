#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the test suite: lint, the layer contracts, then pytest
# (slow tests excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The import floors (cli -> flows -> infra -> tasks -> models | schemas -> core).
.venv/bin/python scripts/lint_layers.py
exec .venv/bin/python -m pytest "$@"
