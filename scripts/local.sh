#!/usr/bin/env bash
# The whole product on this machine: moto on 127.0.0.1:5005, then the local API on
# http://127.0.0.1:3000 with every function of template.yaml and the queue workers.
# Stays in the foreground; Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
export MOTO_PORT=${MOTO_PORT:-5005}
started=$(scripts/moto.sh start)
cleanup() { if [ "$started" = started ]; then scripts/moto.sh stop; fi; }
trap cleanup EXIT
export LOCAL_JWT_SECRET=${LOCAL_JWT_SECRET:-local-dev-secret}
target/debug/local-stack \
  --template template.yaml \
  --host 127.0.0.1 --port "${PORT:-3000}" \
  --endpoint "http://127.0.0.1:$MOTO_PORT" \
  --table-name "${TABLE_NAME:-agreements-local}" \
  --queue-prefix "${QUEUE_PREFIX:-agreements-local}" \
  --bin-dir target/debug "$@" &
stack=$!
# A script's background job ignores the terminal's Ctrl-C: pass it on.
trap 'kill -TERM "$stack" 2>/dev/null; wait "$stack"; exit 130' INT TERM
wait "$stack"
