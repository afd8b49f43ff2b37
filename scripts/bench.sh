#!/usr/bin/env bash
# make bench: how lean the functions are, each figure beside its goal (docs/benchmarks.md, "Lean
# functions"). In one go:
#   1. the arm64 Lambda packages (scripts/package.sh; skipped with BENCH_SKIP_PACKAGE=1, when the
#      zips in target/lambda are the ones to judge);
#   2. host release builds of the functions and of the hello-world baseline (bench/hello), with
#      the same profile;
#   3. lean-bench against the local endpoint (moto, started here): cold starts (31 interleaved
#      runs, BENCH_RUNS to change), zip sizes, write units per agreement, the TLS crates.
# FUNCTIONS="a b" limits every step to those functions (default: all of functions/).
# The exit status is lean-bench's: 1 when a goal is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a functions <<<"${FUNCTIONS:-}"
if [ ${#functions[@]} -eq 0 ]; then
  for dir in functions/*/; do functions+=("$(basename "$dir")"); done
fi
scripts/ensure-venv.sh
if [ "${BENCH_SKIP_PACKAGE:-0}" != 1 ]; then
  scripts/package.sh "${functions[@]}"
fi
packages=(-p bench-hello)
for fn in "${functions[@]}"; do packages+=(-p "$fn"); done
echo "==> cargo build --release (${#functions[@]} functions and bench-hello)"
cargo build --release "${packages[@]}"
cargo build -p bench --bin lean-bench
scripts/moto.sh start
list=$(IFS=,; echo "${functions[*]}")
target/debug/lean-bench --bin-dir target/release --runs "${BENCH_RUNS:-31}" --functions "$list"
