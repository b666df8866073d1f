#!/usr/bin/env bash
# calig on one NVIDIA GPU beside Captum on the same card, in under 6 minutes, on a machine with
# a driver and PyTorch but no Rust and no network. Prepare here, run there:
#
#   bash tools/bench/gpu/pack.sh            # here: build (scripts/build-cuda.sh), pack binaries
#   OUT=/some/dir bash tools/bench/gpu/run.sh   # there, from the repository root
#
# Steps, each under a timeout inside an overall budget (BUDGET, default 400 s); a failed step
# does not stop the others:
#   1 check.py: calig --device cuda against --device cpu (f32) on the test fixtures and the
#     built-in models that travelled (models/xlmr-amharic, models/vit-fashion-mae); what tf32,
#     bf16 and f16 cost in attribution error;
#   2 examples/bench.rs: random BERT-base, 128 and 512 tokens, CA-LIG and IG, 50 steps, f32,
#     with the card's memory sampled;
#   3 captum_gpu.py: Captum's layer loop and IG on the same model shape, fp32/tf32/bf16;
#   4 the bench of step 2 in tf32 and bf16.
# Writes $OUT/run.log, $OUT/check.json, $OUT/captum.json, $OUT/bench-*.txt and $OUT/summary.json.
set -u
cd "$(dirname "$0")/../../.."
HERE=tools/bench/gpu
PKG=${PKG:-target/gpu-pkg}
OUT=${OUT:-/tmp/calig-gpu-out}
WORK=/tmp/calig-gpu-work
BUDGET=${BUDGET:-400}
mkdir -p "$OUT" "$WORK/bin"
T0=$SECONDS

# step NAME TIMEOUT CMD...: CMD under `timeout`, capped by what is left of the budget.
step() {
    local name=$1 limit=$2
    shift 2
    local left=$((BUDGET - (SECONDS - T0) - 5))
    ((limit > left)) && limit=$left
    if ((limit < 10)); then
        echo "### $name: skipped (${left}s of the budget left)"
        return 0
    fi
    echo "### $name (timeout ${limit}s)"
    local t=$SECONDS
    timeout -k 5 "$limit" "$@"
    echo "### $name: exit code $? after $((SECONDS - t))s"
}

main() {
    echo "=== $(date -u +%FT%TZ) $(hostname), $(nproc) CPUs"
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,compute_cap --format=csv
    PY=/opt/torch/.venv/bin/python3
    [ -x "$PY" ] || PY=$(command -v python3)
    for b in calig bench; do
        xz -dc "$PKG/$b.xz" > "$WORK/bin/$b" 2>/dev/null ||
            "$PY" -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" \
                "$PKG/$b.xz" "$WORK/bin/$b"
        chmod +x "$WORK/bin/$b"
    done
    # The CUDA libraries: every lib folder of the Python's nvidia wheels (cudart, cublas, curand),
    # then the driver's libcuda.so.1 where the loader does not know it.
    local libs
    libs=$("$PY" - <<'EOF'
import glob, os, site
roots = set(site.getsitepackages())
dirs = []
for r in sorted(roots):
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "**", "lib"), recursive=True)):
        if glob.glob(os.path.join(d, "lib*.so*")) and d not in dirs:
            dirs.append(d)
print(":".join(dirs))
EOF
)
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu; do
        [ -e "$d/libcuda.so.1" ] && { libs="$libs:$d"; break; }
    done
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # candle's kernels are PTX, compiled by the driver on first use (~20 s): keep the results.
    export CUDA_CACHE_PATH="$WORK/nvcache" CUDA_CACHE_MAXSIZE=4294967296
    ldd "$WORK/bin/calig" | grep -E 'cuda|cublas|curand|not found'
    "$WORK/bin/calig" --version
    echo "setup took $((SECONDS - T0))s"

    echo && echo "=== 1. parity and precision"
    step check 100 "$PY" "$HERE/check.py" "$WORK/bin/calig" "$OUT/check.json"

    bench() {
        local prec=$1 limit=$2
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 \
            > "$WORK/mem-$prec.txt" 2>/dev/null &
        local smi=$!
        step "bench $prec" "$limit" bash -c "set -o pipefail; '$WORK/bin/bench' random-bert-base 128,512 calig,ig 50 3 cuda $prec 2>&1 | tee '$OUT/bench-$prec.txt'"
        kill "$smi" 2>/dev/null
        wait "$smi" 2>/dev/null
        echo "peak card memory during bench $prec: $(sort -n "$WORK/mem-$prec.txt" | tail -1) MiB" |
            tee -a "$OUT/bench-$prec.txt"
    }
    echo && echo "=== 2. calig bench: random BERT-base, 128 and 512 tokens, 50 steps, f32"
    bench f32 60

    echo && echo "=== 3. Captum on the same card"
    mkdir -p "$WORK/site"
    "$PY" -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
        "$PKG"/captum-*.whl "$WORK/site"
    PYTHONPATH="$WORK/site" PYTHONUNBUFFERED=1 step captum 110 "$PY" "$HERE/captum_gpu.py" \
        "$OUT/captum.json" --tokens 128,512 --steps 50 --warmup 1 --reps 3

    echo && echo "=== 4. calig bench in tf32 and bf16"
    bench tf32 50
    bench bf16 50

    echo && echo "total $((SECONDS - T0))s"
    "$PY" "$HERE/summary.py" "$OUT" | tee "$OUT/summary.txt"
}

main 2>&1 | tee "$OUT/run.log"
