#!/usr/bin/env bash
# Makes the toolchain rust-toolchain.toml pins available without a download when the machine's
# `stable` toolchain is that very version (as on machines that cannot fetch toolchains): rustup
# then finds the pinned channel as an alias of it. Otherwise rustup installs the pinned channel
# itself on first use, as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v rustup >/dev/null 2>&1 || exit 0
want=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
host=$(rustc +stable -vV 2>/dev/null | sed -n 's/^host: //p')
[ -n "$want" ] && [ -n "$host" ] || exit 0
if rustup toolchain list | grep -q "^$want-$host"; then
  exit 0
fi
stable_version=$(rustc +stable --version 2>/dev/null | awk '{print $2}')
if [ "$stable_version" = "$want" ]; then
  toolchains="${RUSTUP_HOME:-$HOME/.rustup}/toolchains"
  echo "==> rust $want is this machine's stable toolchain: aliasing it as $want-$host"
  ln -sfn "$toolchains/stable-$host" "$toolchains/$want-$host"
else
  echo "==> rust-toolchain.toml pins $want; stable here is ${stable_version:-absent}: rustup installs $want"
fi
