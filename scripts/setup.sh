#!/usr/bin/env bash
# One-command set-up: fetch registry assets, build calig, and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-assets.sh
cargo build --release
./target/release/calig info tests/fixtures/bert
./target/release/calig predict tests/fixtures/bert "a gorgeous , witty movie ."
