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

# FAKE_PARTNER_CENTER=1: a fake Partner Center on 127.0.0.1:4010 (with demo customers), and the
# functions pointed at it, to try provisioning and sync without a Microsoft tenant.
pc_args=()
if [ "${FAKE_PARTNER_CENTER:-0}" = 1 ]; then
  target/debug/fake-partner-center --port 4010 --seed-demo &
  fake_pc=$!
  cleanup() { kill "$fake_pc" 2>/dev/null || true; if [ "$started" = started ]; then scripts/moto.sh stop; fi; }
  pc_args=(
    --param PartnerCenterTenantId=8f0a1c2e-4b3d-4e5f-9a6b-7c8d9e0f1a2b
    --param PartnerCenterClientId=4d9c7a3e-2f1b-4c6d-8e9f-0a1b2c3d4e5f
    --secret PartnerCenterClientSecret=fake-partner-center-client-secret
    --param PartnerCenterBaseUrl=http://127.0.0.1:4010
    --param PartnerCenterTokenUrl=http://127.0.0.1:4010/8f0a1c2e-4b3d-4e5f-9a6b-7c8d9e0f1a2b/oauth2/token
  )
fi

# The portal authorizer's answers are not cached locally: a revoked link is refused at once.
target/debug/local-stack \
  --template template.yaml \
  --host 127.0.0.1 --port "${PORT:-3000}" \
  --endpoint "http://127.0.0.1:$MOTO_PORT" \
  --table-name "${TABLE_NAME:-agreements-local}" \
  --queue-prefix "${QUEUE_PREFIX:-agreements-local}" \
  --bin-dir target/debug \
  --param PortalAuthorizerCacheSeconds=0 "${pc_args[@]}" "$@" &
stack=$!
# A script's background job ignores the terminal's Ctrl-C: pass it on.
trap 'kill -TERM "$stack" 2>/dev/null; wait "$stack"; exit 130' INT TERM
wait "$stack"
