#!/usr/bin/env bash
# Runs the whole test suite (build included) after fetching the registry assets and installing
# the built-in models it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-assets.sh
cargo build
./target/debug/calig models install
cargo test --all-targets
