#!/usr/bin/env bash
# Install Knowledge Console into ./.venv. Safe to re-run: it skips work when nothing changed.
#   scripts/install.sh          the app
#   scripts/install.sh --dev    the app and what the tests need
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
wanted="requirements.txt"
[ "${1:-}" = "--dev" ] && wanted="requirements.txt requirements-dev.txt"

if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $($python --version)"
  "$python" -m venv .venv
fi

stamp=.venv/.installed-$(echo "$wanted" | tr ' ' '+')
digest=$(cat $wanted | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
  exit 0
fi

pip_install() {
  # This machine's pip config lists an extra local index with stale entries; hide those warnings.
  .venv/bin/pip install --quiet --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

# torch first, on its own: 2.13.0 is the CPU build this machine already has as a wheel.
# Without it, sentence-transformers would pull the newest torch with several GB of CUDA packages.
echo "Installing torch (CPU build)"
pip_install torch==2.13.0
for file in $wanted; do
  echo "Installing $file"
  pip_install -r "$file"
done
echo "$digest" >"$stamp"
