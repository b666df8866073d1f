#!/usr/bin/env bash
# Side-by-side speed of calig and Captum on the same model, sentence and machine, in one run.
#   [THREADS=n] tools/bench/compare.sh MODEL_DIR ["sentence"] [PYTHON]
# Both sides use THREADS cores (default 2): calig as THREADS chunk workers of one thread each
# (its default), Captum as THREADS torch threads.
# PYTHON defaults to the tools/reference venv (/work/venv/bin/python). Prints medians of 3 runs
# each (model loading excluded on both sides) and the ratio Captum / calig.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:?model directory}
TEXT=${2:-"the film is a charming , often funny and surprisingly moving portrait of a family that learns to live with its own quirks and failures ."}
PY=${3:-/work/venv/bin/python}
THREADS=${THREADS:-2}
cargo build --release -q
calig_time() { # method -> median timing_ms / 1000
    for _ in 1 2 3; do
        CALIG_WORKERS=$THREADS RAYON_NUM_THREADS=1 ./target/release/calig explain --model "$MODEL" --method "$1" --steps 50 --max-batch 32 --format json "$TEXT" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["timing_ms"] / 1000)'
    done | sort -n | sed -n 2p
}
peer=$("$PY" tools/bench/captum_peer.py "$MODEL" "$TEXT" --steps 50 --batch 32 --reps 3 --threads "$THREADS")
echo "captum: $peer"
for pair in ig:ig lig:lig calig:calig_parts; do
    m=${pair%%:*}; k=${pair##*:}
    ours=$(calig_time "$m")
    theirs=$(python3 -c "import json; print(json.loads('''$peer''')['$k'])")
    python3 -c "print(f'$m: calig {float($ours):.2f} s, captum {float($theirs):.2f} s, captum/calig = {float($theirs)/float($ours):.2f}x')"
done
