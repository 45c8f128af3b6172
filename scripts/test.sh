#!/usr/bin/env bash
# Install everything (CPU torch first) into .venv and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip install -q -e '.[dev]'
HF_HUB_OFFLINE=1 python -m pytest -q "$@"
