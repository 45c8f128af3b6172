#!/usr/bin/env bash
# Install everything (CPU torch first) into .venv and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The dashboard's browser test drives Debian's chromium (CI runs as root; elsewhere sudo asks).
if [ ! -x /usr/bin/chromium ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium
fi
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip install -q -e '.[dev]'
HF_HUB_OFFLINE=1 python -m pytest -q "$@"
