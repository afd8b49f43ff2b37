#!/usr/bin/env bash
# Creates .venv and installs requirements-dev.txt into it, once per change of that file.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's python3 without python3-venv: fall back to virtualenv from PyPI.
    rm -rf "$venv"
    python3 -m pip install --user --quiet virtualenv
    python3 -m virtualenv --quiet "$venv"
  fi
fi
echo "==> installing requirements-dev.txt into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
echo "$want" > "$stamp"
