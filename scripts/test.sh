#!/usr/bin/env bash
# The second command: install the test tools, then lint, type-check and run every test
# (real PostgreSQL, real local model, the OpenAI SDK against a local fake server, Chromium).
# Extra arguments go to pytest (e.g. -k chunking, or -m "not browser"). pytest prints the 15
# slowest tests at the end (--durations in pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev

if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Debian's chromium for the browser test"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

echo "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "mypy"
.venv/bin/mypy
echo "import contracts (.importlinter)"
.venv/bin/lint-imports --no-cache
echo "pytest"
.venv/bin/python -m pytest "$@"
