#!/usr/bin/env bash
# Builds Lambda packages for arm64 (provided.al2023) with cargo-lambda: a release build of each
# function named (default: every crate under functions/), zipped as target/lambda/<fn>/bootstrap.zip,
# with each zip's size printed. cargo-lambda and zig come from .venv (requirements-dev.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
fi
functions=("$@")
if [ ${#functions[@]} -eq 0 ]; then
  for dir in functions/*/; do functions+=("$(basename "$dir")"); done
fi
bins=()
for fn in "${functions[@]}"; do
  if [ ! -f "functions/$fn/Cargo.toml" ]; then
    echo "no function $fn (functions/$fn/Cargo.toml)" >&2
    exit 2
  fi
  bins+=(--bin "$fn")
done
# zig (the linker) is found as the venv's python -m ziglang.
export PATH="$PWD/.venv/bin:$PATH"
started=$(date +%s)
cargo lambda build --release --arm64 --output-format zip "${bins[@]}"
elapsed=$(( $(date +%s) - started ))
total=0
for fn in "${functions[@]}"; do
  zip="target/lambda/$fn/bootstrap.zip"
  if [ ! -f "$zip" ]; then
    echo "missing $zip" >&2
    exit 1
  fi
  size=$(stat -c %s "$zip")
  total=$(( total + size ))
  printf '%-28s %8d KiB  %s\n' "$fn" $(( (size + 1023) / 1024 )) "$zip"
done
printf '%d packages, %d KiB in all, built in %d s\n' "${#functions[@]}" $(( (total + 1023) / 1024 )) "$elapsed"
