#!/usr/bin/env bash
# Builds the `calig` Python package (bindings/python, maturin + PyO3) and installs it, editable,
# into the virtual environment VENV (default .venv), creating it and its build tools (maturin,
# numpy, pytest from PyPI) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PY="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -c "import maturin, numpy, pytest" 2>/dev/null \
    || "$VENV/bin/pip" install -q "maturin>=1.5,<2" numpy pytest
VENV_ABS="$(cd "$VENV" && pwd)"
VIRTUAL_ENV="$VENV_ABS" PATH="$VENV_ABS/bin:$PATH" \
    "$VENV_ABS/bin/maturin" develop -q ${MATURIN_RELEASE:+--release} -m bindings/python/Cargo.toml
