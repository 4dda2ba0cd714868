#!/usr/bin/env bash
# The first command: install what is needed, then start the app on http://localhost:8501.
# Extra arguments go to `streamlit run` (e.g. --server.port 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/streamlit run app.py "$@"
