#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the test suite: lint, then pytest (slow tests excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
