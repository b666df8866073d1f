#!/usr/bin/env bash
# Prepares tools/bench/gpu/run.sh's package here (the GPU machine has no Rust and no network):
# the CUDA build (scripts/build-cuda.sh), its calig and bench binaries stripped and
# xz-compressed, and Captum's wheel, in target/gpu-pkg/. Carry target/gpu-pkg,
# models/xlmr-amharic and models/vit-fashion-mae (when installed) to the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PKG=target/gpu-pkg
bash scripts/build-cuda.sh "$@"
mkdir -p "$PKG"
for b in release/calig release/examples/bench; do
    name=$(basename "$b")
    strip -o "$PKG/$name" "target/cuda/$b"
    xz -9 -T2 -f "$PKG/$name"
done
[ -f "$PKG"/captum-0.9.0-py3-none-any.whl ] ||
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$PKG" captum==0.9.0
du -sh "$PKG"/*
