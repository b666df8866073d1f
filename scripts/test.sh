#!/usr/bin/env bash
# Runs the whole test suite (build included) after fetching the registry assets it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-assets.sh
cargo test --all-targets
