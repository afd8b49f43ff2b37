#!/usr/bin/env bash
# moto server on loopback, the local DynamoDB- and SQS-compatible endpoint.
#   scripts/moto.sh start   start one unless one already answers; prints "started" or "running"
#   scripts/moto.sh stop    stop the one this script started
set -euo pipefail
cd "$(dirname "$0")/.."
port=${MOTO_PORT:-5005}
pidfile=.local/moto.pid
mkdir -p .local
answers() { curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/moto-api/" 2>/dev/null; }
case "${1:-start}" in
  start)
    if answers; then echo running; exit 0; fi
    .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$port" > .local/moto.log 2>&1 &
    echo $! > "$pidfile"
    for _ in $(seq 1 100); do
      if answers; then echo started; exit 0; fi
      sleep 0.1
    done
    echo "moto did not answer on 127.0.0.1:$port; see .local/moto.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
