#!/usr/bin/env bash
# Builds the Python package as a wheel anyone can `pip install` without Rust: abi3 (one wheel
# for CPython >= 3.9) and manylinux_2_28 (glibc 2.28 and later), linked with zig (the PyPI
# package `ziglang`) so that the result does not depend on this machine's glibc. The wheel
# lands in target/wheels/. VENV (default target/py-venv) holds maturin and ziglang.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-target/py-venv}"
PY="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -c "import maturin, ziglang" 2>/dev/null \
    || "$VENV/bin/pip" install -q "maturin>=1.5,<2" ziglang
VENV_ABS="$(cd "$VENV" && pwd)"
PATH="$VENV_ABS/bin:$PATH" "$VENV_ABS/bin/maturin" build --release --zig \
    --compatibility manylinux_2_28 -m bindings/python/Cargo.toml --out target/wheels
ls -1 target/wheels/*.whl
