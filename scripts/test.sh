#!/usr/bin/env bash
# Runs the whole test suite (build included) after fetching the registry assets and installing
# the built-in models it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-assets.sh
# Style and lint gates first: formatting, clippy on every target (the fuzz targets included) and
# on the Python crate, the docs without warnings, and the library without its default features
# (what a Rust user who only explains compiles: no clap, no plotters).
cargo fmt --all -- --check
cargo clippy --all-targets --features fuzzing -- -D warnings
cargo clippy -p calig-python -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
cargo check --lib --no-default-features
cargo build
./target/debug/calig models install
# The HTML report test drives Debian's headless chromium when it is there (best effort: without
# it that test checks the HTML only and says so).
command -v chromium >/dev/null || apt-get install -y -q chromium >/dev/null 2>&1 \
    || echo "note: chromium not installed; the HTML report test checks the HTML only"
cargo test --all-targets --features fuzzing
cargo test --doc
cargo test -p calig-python --lib
# The golden Captum/PyTorch attribution parity once more on candle's autograd, the oracle the
# explicit engine is tested against (tests/engine.rs), so both engines pass it.
CALIG_ENGINE=candle cargo test --test attributions
# The Python package: built into a venv under target/, then its pytest suite (parity with the
# CLI's JSON uses the debug binary built above).
bash scripts/python.sh target/py-venv
target/py-venv/bin/python -m pytest -q bindings/python/tests
