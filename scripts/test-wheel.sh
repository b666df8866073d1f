#!/usr/bin/env bash
# Installs the wheel that scripts/wheel.sh built into a fresh virtual environment, with cargo
# and rustc off PATH, and runs the README's Python example on the built-in model (installed by
# scripts/setup.sh into models/). Slow (a release build first), so not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEEL="$(ls -t target/wheels/calig-*.whl 2>/dev/null | head -n 1)"
[ -n "$WHEEL" ] || { echo "no wheel in target/wheels: run scripts/wheel.sh first" >&2; exit 1; }
PY="$(command -v "${PYTHON:-python3}")"
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
"$PY" -m venv "$DIR/venv"
"$DIR/venv/bin/pip" install -q "$WHEEL"
# A clean environment: the venv and the system's bin directories only, so no Rust toolchain.
env -i HOME="$DIR" PATH="$DIR/venv/bin:/usr/local/bin:/usr/bin:/bin" \
    CALIG_MODELS="$PWD/models" sh -c '
    if command -v cargo || command -v rustc; then echo "a Rust toolchain is on PATH" >&2; exit 1; fi
    cd "$HOME" && python -c "import calig; print(calig.load(\"minilm-sst2\").explain(\"a gorgeous, witty movie\").word_scores)"
'
echo "wheel $WHEEL: installed and ran without a Rust toolchain"
