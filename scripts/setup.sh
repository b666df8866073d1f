#!/usr/bin/env bash
# One-command set-up: fetch registry assets, build calig, install the built-in models, and run
# the main job (explain a sentence with the default model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-assets.sh
cargo build --release
./target/release/calig models install
./target/release/calig models
./target/release/calig explain "a gorgeous, witty and moving film"
# The Python package, into .venv (then: .venv/bin/python -c "import calig; ...").
MATURIN_RELEASE=1 bash scripts/python.sh .venv
