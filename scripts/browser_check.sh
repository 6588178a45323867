#!/usr/bin/env bash
# Browser check of what a user sees in Prefect: a real Prefect server on 127.0.0.1, the
# `backtest` deployment from prefect.yaml, one tiny backtest run through it, and headless
# Chromium (Debian's `chromium` package) screenshots of the deployment's run form and the run's
# artifacts. Screenshots and logs go to $OUT (default out/browser-check/).
#
#   bash scripts/browser_check.sh            # ~5-10 min on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/browser-check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PORT=$(.venv/bin/python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
export PREFECT_HOME="$OUT/prefect-home" CNNLSTM_HOME="$OUT/data"
export PREFECT_API_URL="http://127.0.0.1:$PORT/api" PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=180 OMP_NUM_THREADS=1
.venv/bin/prefect server start --host 127.0.0.1 --port "$PORT" > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  curl -sf "$PREFECT_API_URL/health" > /dev/null && break
  sleep 1
done
.venv/bin/prefect work-pool create local-pool --type process > "$OUT/deploy.log" 2>&1 || true
.venv/bin/prefect --no-prompt deploy --name backtest >> "$OUT/deploy.log" 2>&1
DEPLOYMENT=$(curl -sf -X POST "$PREFECT_API_URL/deployments/filter" -H 'content-type: application/json' \
  -d '{"deployments": {"name": {"any_": ["backtest"]}}}' | .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)[0]['id'])")
shot() {  # URL FILE HEIGHT
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,"$3" \
    --virtual-time-budget=20000 --screenshot="$OUT/$2" "$1" > /dev/null 2>&1 || true
}
shot "http://127.0.0.1:$PORT/deployments/deployment/$DEPLOYMENT/run" form.png 2400
# a tiny backtest through the CLI against this server: the flow run and its artifacts
.venv/bin/cnnlstm backtest --sim n_stocks=30 --sim start=2010-01-01 --sim end=2013-12-31 \
  --set cnn.epochs=2 --set lstm.epochs=2 --no-mlflow --out "$OUT/run" > "$OUT/run.log" 2>&1
RUN=$(curl -sf -X POST "$PREFECT_API_URL/flow_runs/filter" -H 'content-type: application/json' \
  -d '{"sort": "START_TIME_DESC", "limit": 1}' | .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)[0]['id'])")
shot "http://127.0.0.1:$PORT/runs/flow-run/$RUN?tab=Artifacts" run-artifacts.png 1600
shot "http://127.0.0.1:$PORT/artifacts" artifacts.png 1200
ARTIFACT=$(curl -sf -X POST "$PREFECT_API_URL/artifacts/filter" -H 'content-type: application/json' \
  -d '{"artifacts": {"key": {"any_": ["table2"]}}, "limit": 1}' | .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)[0]['id'])")
shot "http://127.0.0.1:$PORT/artifacts/artifact/$ARTIFACT" table2-artifact.png 2400
ls -la "$OUT"/*.png
