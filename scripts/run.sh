#!/usr/bin/env bash
# The first command: install what is needed, then start the app on http://localhost:8501, one
# ingestion worker, and the HTTP API on http://127.0.0.1:8502 (API_HOST, API_PORT); Ctrl-C (or the
# end of any of them) stops all three.
# The app listens on this machine only; APP_ADDRESS=0.0.0.0 serves other machines too. Until the
# first manager account exists, the app prints a one-time setup code that the first-run form asks for.
# Extra arguments go to `streamlit run` (e.g. --server.port 8080). More workers, here or on other
# machines against the same DATABASE_URL: `.venv/bin/python -m rag worker --concurrency N`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh

# The worker opens (and migrates) the database first; the others wait on its lock, then find it ready.
.venv/bin/python -m rag worker &
worker=$!
.venv/bin/python -m rag api &
api=$!
stop() {
  trap - EXIT INT TERM
  kill "$worker" "$api" 2>/dev/null || true
  wait "$worker" "$api" 2>/dev/null || true
}
trap stop EXIT INT TERM

.venv/bin/streamlit run app.py --server.address "${APP_ADDRESS:-127.0.0.1}" "$@" &
app=$!
# Whichever stops first (the app, or a worker or the API that could not start) takes the others down.
wait -n "$worker" "$api" "$app" || true
kill "$app" 2>/dev/null || true
wait "$app" 2>/dev/null || true
