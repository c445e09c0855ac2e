#!/usr/bin/env bash
# The local stack: a Prefect server on 127.0.0.1, a process work pool and its worker, the
# coinfill blocks, rate limits and every deployment of prefect.yaml on that pool.
#
#   infra/local/stack.sh up     # make up
#   infra/local/stack.sh down   # make down: stops what `up` started, by the PIDs it saved
#
# Settings (environment): PORT (4200), STACK_DIR (.stack: PIDs, logs, PREFECT_HOME),
# POOL (coinfill-local), PY (.venv/bin/python); COINFILL_* as usual (database, keys).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PORT=${PORT:-4200}
STACK_DIR=${STACK_DIR:-$ROOT/.stack}
POOL=${POOL:-coinfill-local}
BIN=${BIN:-$ROOT/.venv/bin}
export PREFECT_HOME=$STACK_DIR/prefect
export PREFECT_API_URL=http://127.0.0.1:$PORT/api
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_CLI_PROMPT=false

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_healthy() {
  for _ in $(seq 1 120); do
    if "$BIN/python" -c "import urllib.request,sys; urllib.request.urlopen('$PREFECT_API_URL/health', timeout=2)" 2>/dev/null; then
      return 0
    fi
    running "$STACK_DIR/server.pid" || { echo "the Prefect server stopped; see $STACK_DIR/server.log"; tail -20 "$STACK_DIR/server.log"; exit 1; }
    sleep 1
  done
  echo "the Prefect server did not answer on $PREFECT_API_URL within 120 s; see $STACK_DIR/server.log"
  exit 1
}

up() {
  mkdir -p "$STACK_DIR" "$PREFECT_HOME"
  if running "$STACK_DIR/server.pid"; then
    say "Prefect server already running (PID $(cat "$STACK_DIR/server.pid"))"
  else
    say "starting the Prefect server on 127.0.0.1:$PORT"
    nohup "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >"$STACK_DIR/server.log" 2>&1 &
    echo $! >"$STACK_DIR/server.pid"
  fi
  wait_healthy
  cd "$ROOT"
  say "work pool $POOL (process) and the variables prefect.yaml reads"
  "$BIN/prefect" work-pool create "$POOL" --type process --overwrite >/dev/null
  "$BIN/prefect" variable set coinfill_work_pool "$POOL" --overwrite >/dev/null
  "$BIN/prefect" variable set coinfill_code_dir "$ROOT" --overwrite >/dev/null
  "$BIN/prefect" variable set coinfill_image "coinfill:local" --overwrite >/dev/null
  say "global rate limits per provider (as Terraform creates them)"
  "$BIN/python" -m coinfill.cli.ratelimits
  say "database schema and blocks"
  "$BIN/coinfill" db upgrade
  "$BIN/coinfill" blocks register
  say "deploying every deployment of prefect.yaml to $POOL"
  "$BIN/prefect" --no-prompt deploy --all >"$STACK_DIR/deploy.log" 2>&1 || { tail -40 "$STACK_DIR/deploy.log"; exit 1; }
  grep -oE "Deployment '[^']+' successfully created" "$STACK_DIR/deploy.log" | sed 's/^/  /' || true
  if running "$STACK_DIR/worker.pid"; then
    say "worker already running (PID $(cat "$STACK_DIR/worker.pid"))"
  else
    say "starting a worker for $POOL"
    nohup "$BIN/prefect" worker start --pool "$POOL" --type process >"$STACK_DIR/worker.log" 2>&1 &
    echo $! >"$STACK_DIR/worker.pid"
  fi
  cat <<EOT

The stack is up: UI http://127.0.0.1:$PORT   (logs and PIDs in $STACK_DIR)
Try:
  export PREFECT_API_URL=$PREFECT_API_URL
  $BIN/prefect deployment run 'technical-indicators/backfill' --param days=30 --watch
Stop it with: make down
EOT
}

stop() {
  local name=$1 file="$STACK_DIR/$1.pid"
  if running "$file"; then
    local pid
    pid=$(cat "$file")
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "stopped the $name (PID $pid)"
  else
    echo "no $name running"
  fi
  rm -f "$file"
}

down() {
  stop worker
  stop server
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down"; exit 2 ;;
esac
