#!/usr/bin/env bash
# The first command: install what is needed, then start the app on http://localhost:8501 and one
# ingestion worker beside it; Ctrl-C (or the end of either) stops both.
# Extra arguments go to `streamlit run` (e.g. --server.port 8080). More workers, here or on other
# machines against the same DATABASE_URL: `.venv/bin/python -m rag worker --concurrency N`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh

.venv/bin/python -m rag worker &
worker=$!
stop() {
  trap - EXIT INT TERM
  kill "$worker" 2>/dev/null || true
  wait "$worker" 2>/dev/null || true
}
trap stop EXIT INT TERM

.venv/bin/streamlit run app.py "$@" &
app=$!
# Whichever stops first (the app, or a worker that could not start) takes the other down.
wait -n "$worker" "$app" || true
kill "$app" 2>/dev/null || true
wait "$app" 2>/dev/null || true
