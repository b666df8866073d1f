#!/usr/bin/env bash
# GPU job: fine-tune minilm-sst2, minilm-movies and minilm-bbc in one run.
# Needs .devjob/ (python tools/train/make_devjob.py) and $OUT (results folder).
# Extra arguments go to finetune_minilm.py (e.g. --smoke for the CPU rehearsal).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?set OUT to the results folder}"
PY=${PYTHON:-python3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$PY" - "$W" <<'PYEOF'
import sys, tarfile
t = tarfile.open(".devjob/data.tar.xz")
try:
    t.extractall(sys.argv[1], filter="data")
except TypeError:
    t.extractall(sys.argv[1])
PYEOF
"$PY" tools/train/finetune_minilm.py --model .devjob/minilm-l6 --data "$W" --out "$OUT" "$@" 2>&1
test -s "$OUT/metrics.json"
ls -la "$OUT"
