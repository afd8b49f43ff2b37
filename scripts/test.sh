#!/usr/bin/env bash
# Every test: format and lint checks, the template linter, and all of the workspace's tests
# against a moto endpoint on loopback (started here unless one already answers).
set -euo pipefail
cd "$(dirname "$0")/.."
export MOTO_PORT=${MOTO_PORT:-5005}
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export SAM_CLI_TELEMETRY=0
# The functions the local stacks run log to the test output; warnings are enough there.
export RUST_LOG=${RUST_LOG:-warn}
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
fi
started=$(scripts/moto.sh start)
cleanup() { if [ "$started" = started ]; then scripts/moto.sh stop; fi; }
trap cleanup EXIT

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> sam validate --lint"
.venv/bin/sam validate --lint --template template.yaml
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> cargo build (the function binaries the local stack runs)"
cargo build --workspace --bins
echo "==> cargo test"
cargo test --workspace --no-fail-fast
