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
moto_check=""
cleanup() {
  if [ -n "$moto_check" ]; then kill "$moto_check" 2>/dev/null || true; fi
  if [ "$started" = started ]; then scripts/moto.sh stop; fi
}
trap cleanup EXIT
mkdir -p .local

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> sam validate --lint"
.venv/bin/sam validate --lint --template template.yaml
echo "==> openapi-spec-validator docs/openapi.yaml"
.venv/bin/openapi-spec-validator docs/openapi.yaml
# The local endpoint's check runs in-process (moto's mock) beside clippy and the build.
echo "==> scripts/test_moto_server.py, in the background (the local endpoint's reads answer as moto does)"
.venv/bin/python scripts/test_moto_server.py >.local/test_moto_server.log 2>&1 &
moto_check=$!
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> cargo build (the function binaries the local stack runs)"
cargo build --workspace --bins
# The portal's browser test (tests/portal_browser.rs) drives headless Chromium via chromedriver.
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  echo "==> apt-get install chromium chromium-driver (for tests/portal_browser.rs)"
  sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium chromium-driver
fi
echo "==> scripts/test_moto_server.py"
check_status=0
wait "$moto_check" || check_status=$?
moto_check=""
cat .local/test_moto_server.log
if [ "$check_status" -ne 0 ]; then exit "$check_status"; fi
# Built alone, the shared crate has the functions' feature set: reqwest without a crypto provider
# of its own (the workspace build adds the test crates' ring one). Its TLS set-up is checked so.
echo "==> cargo test -p shared --lib tls (the functions' TLS set-up, as deployed)"
cargo test -p shared --lib tls
echo "==> cargo test"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee .local/test.log
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one result line per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' .local/test.log
exit "$status"
