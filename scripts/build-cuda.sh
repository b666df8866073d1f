#!/usr/bin/env bash
# Builds calig with CUDA (`--features cuda`) on a machine with no CUDA toolkit and no GPU: nvcc
# and the CUDA 13.0 libraries come from PyPI. See docs/performance.md ("On a GPU").
#
#   bash scripts/build-cuda.sh [--python] [--compute-cap 90]
#
# Output: target/cuda/release/calig (and examples/bench), plus with --python a wheel of the Python
# package in target/cuda/wheels/. About 20 minutes on 2 cores the first time: most of it is
# candle-kernels compiling every CUDA kernel of candle; later builds only recompile calig.
#
# Why 13.0: a CUDA 13.0 driver (580) cannot JIT PTX made by a newer nvcc; pin the toolkit to
# the oldest driver the binary must run on. CUDA_COMPUTE_CAP (default 90 = H100/H200) decides
# the SASS/PTX; 80 for A100, 89 for L4/L40/RTX 40xx.
#
# At run time the binary needs libcuda.so.1 (the driver), libcudart.so.13, libcublas.so.13,
# libcublasLt.so.13 and libcurand.so.10: candle 0.11 turns on cudarc's `dynamic-linking`, so they
# are linked at load time and the binary does not start at all where libcuda.so.1 is missing
# (not even for `--device cpu`). pip's CUDA wheels put the libraries in
# site-packages/nvidia/cu13/lib (PyTorch's venv has them); add that folder to LD_LIBRARY_PATH.
# The stub made below (target/cuda/toolkit/cuda/lib64/stubs) lets the binary start on a
# machine without a driver: `--device cpu` works, `--device cuda` fails with a clear message.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CAP=90
PYTHON_PACKAGE=0
while [ $# -gt 0 ]; do
    case "$1" in
    --python) PYTHON_PACKAGE=1 ;;
    --compute-cap) CAP="$2"; shift ;;
    *) echo "unknown argument: $1 (use --python, --compute-cap N)" >&2; exit 2 ;;
    esac
    shift
done
T=$ROOT/target/cuda
KIT=$T/toolkit
mkdir -p "$KIT"

# 1. The toolkit pieces from PyPI: nvcc, its headers, cicc/libnvvm for candle's kernels;
#    cudart, cublas(+Lt), curand and nvrtc to link against.
[ -x "$KIT/venv/bin/pip" ] || python3 -m venv "$KIT/venv"
"$KIT/venv/bin/pip" install -q "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" \
    "nvidia-cuda-crt==13.0.*" "nvidia-cuda-cccl==13.0.*" "nvidia-nvvm==13.0.*" \
    "nvidia-cuda-nvrtc==13.0.*" "nvidia-curand==10.4.0.*" "nvidia-cublas==13.0.*"
N=$("$KIT/venv/bin/python" -c \
    "import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], 'cu13'))")

# 2. A CUDA_HOME-like folder: the wheels have no lib64/, no unversioned .so names and no libcuda
#    stub, which the linker wants. The stub exports every driver function cudarc binds, each
#    returning CUDA_ERROR_STUB_LIBRARY (34); it is linked against, never shipped.
C=$KIT/cuda
rm -rf "$C" && mkdir -p "$C/lib64/stubs"
for d in bin include nvvm; do ln -s "$N/$d" "$C/$d"; done
ln -s lib64 "$C/lib"
for f in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13 \
    libnvrtc-builtins.so.13.0 libnvvm.so.4; do
    ln -s "$N/lib/$f" "$C/lib64/$f"
    ln -sf "$f" "$C/lib64/${f%%.so*}.so"
done
cargo fetch -q
CUDARC=$(cargo metadata --features cuda --format-version 1 2>/dev/null | python3 -c \
    "import json,sys; print(next(p['manifest_path'] for p in json.load(sys.stdin)['packages'] if p['name']=='cudarc').rsplit('/',1)[0])")
grep -ohE '^\s+(pub )?fn (cu[A-Z][A-Za-z0-9_]+)\(' "$CUDARC"/src/driver/sys/*.rs |
    sed -E 's/^\s+(pub )?fn (cu[A-Za-z0-9_]+)\(/\2/' | sort -u |
    awk '{print "int " $1 "(void) { return 34; }"}' > "$KIT/cuda_stub.c"
gcc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o "$C/lib64/stubs/libcuda.so" "$KIT/cuda_stub.c"
ln -sf libcuda.so "$C/lib64/stubs/libcuda.so.1"

# 3. Build. candle-kernels finds nvcc through CUDA_HOME/PATH.
export CUDA_HOME=$C CUDA_PATH=$C CUDA_ROOT=$C PATH=$C/bin:$PATH CUDA_COMPUTE_CAP=$CAP
export CARGO_TARGET_DIR=$T
cargo build --release --features cuda --bin calig --example bench
if [ "$PYTHON_PACKAGE" = 1 ]; then
    [ -x "$KIT/venv/bin/maturin" ] || "$KIT/venv/bin/pip" install -q "maturin>=1.5,<2"
    "$KIT/venv/bin/maturin" build --release --features cuda -m bindings/python/Cargo.toml \
        --out "$T/wheels"
fi

# 4. Check that it starts where no driver is (the stub) and runs on the CPU.
echo "highest GLIBC symbol version needed: $(objdump -T "$T/release/calig" |
    grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
LD_LIBRARY_PATH=$C/lib64/stubs:$C/lib64 "$T/release/calig" --version
echo "built: $T/release/calig (run time: libcuda.so.1 from the driver; the others from $N/lib)"
