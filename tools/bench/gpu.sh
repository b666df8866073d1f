#!/usr/bin/env bash
# The speed issue's GPU check, prepared for a machine with an NVIDIA GPU and the CUDA toolkit
# (nvcc): builds calig with `--features cuda` and times CA-LIG and IG on a randomly initialised
# BERT-base-sized classifier (12 layers, width 768, 128 tokens, 50 steps; target < 100 ms per
# CA-LIG explanation), then on any built-in model installed under models/.
#   tools/bench/gpu.sh [REPS]
# Not yet run: no GPU was lent to the task that wrote it (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${1:-3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
cargo build --release --features cuda --example bench
./target/release/examples/bench random-bert-base 128 calig,ig 50 "$REPS" cuda
for m in minilm-sst2 minilm-movies; do
    if [ -f "models/$m/model.safetensors" ]; then
        ./target/release/examples/bench "$m" 16,55,264,512 calig,ig 50 "$REPS" cuda
    fi
done
