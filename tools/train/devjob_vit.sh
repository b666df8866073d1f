#!/usr/bin/env bash
# GPU job (optional second call): vit-fashion-mae (MAE pre-training, fine-tune, and the
# no-MAE baseline) on Fashion-MNIST. Needs .devjob/fmnist/*.gz (Debian dataset-fashion-mnist)
# and $OUT. Extra arguments go to train_vit_fashion.py (e.g. --smoke --device cpu).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?set OUT to the results folder}"
PY=${PYTHON:-python3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$PY" tools/train/train_vit_fashion.py --device auto --data .devjob/fmnist --work "$W" --out "$OUT" \
  --hidden 192 --layers 6 --heads 4 --mae-epochs 40 --mae-bs 512 --mae-lr 1.5e-3 \
  --ft-epochs 20 --ft-bs 256 --ft-lr 1e-3 --deadline-s 240 --no-examples "$@" 2>&1
test -s "$OUT/metrics.json"
ls -la "$OUT"
