#!/usr/bin/env bash
# The README's test command (CI runs exactly this via .ci/run): install everything the suite needs into
# .venv on a fresh machine (CPU torch first), lint with ruff, check that each extra works alone in a fresh venv
# (scripts/extras_smoke.sh), then run the whole suite (which also builds the docs site with
# `mkdocs build --strict`, tests/test_docs.py). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- system packages: the dashboard's browser test drives Debian's chromium (CI runs as root; elsewhere sudo asks)
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi

# --- Python packages ------------------------------------------------------------------------------------
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0            # CPU build; an unpinned torch pulls a multi-GB CUDA build
python -m pip install -q -e '.[dev]'              # every extra + pytest, hypothesis, ruff, mkdocs tools

# --- lint, each extra alone, then the suite ---------------------------------------------------------------
ruff check semantic_router tests benchmarks scripts
smoke=0
if [ "${EXTRAS_SMOKE:-1}" != 0 ]; then  # EXTRAS_SMOKE=0 skips it on a developer's rerun; CI always runs it
  bash scripts/extras_smoke.sh || smoke=$?
fi
status=0
HF_HUB_OFFLINE=1 python -m pytest -q "$@" || status=$?
if [ "$status" = "5" ]; then  # pytest: "no tests collected"
  echo "error: pytest collected no tests (arguments: ${*:-none}); check the test paths and -k/-m filters" >&2
fi
if [ "$status" = 0 ] && [ "$smoke" != 0 ]; then
  echo "error: the extras smoke failed (see 'extras smoke:' above)" >&2
  status=$smoke
fi
exit "$status"
