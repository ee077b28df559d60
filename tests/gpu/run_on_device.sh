#!/usr/bin/env bash
# \file tests/gpu/run_on_device.sh
# \brief The GPU check in one command: install the carried apache-tvm-ffi wheel, build and install
# this package against the jax already installed, run the GPU suite and the GPU benchmark, and
# write a log and a JSON of the results into $OUT.
#
# Usage: bash tests/gpu/run_on_device.sh [WHEEL]
#   WHEEL  the apache-tvm-ffi wheel to install; default: the newest wheels/apache_tvm_ffi-*.whl.
#          Not needed when apache-tvm-ffi is already importable.
# Environment: PYTHON (default python3), OUT (default build/gpu-run), GPU_RUN_BUILD_DIR (where pip
# builds the core; default /tmp/jax-tvm-ffi-gpu-build), GPU_RUN_SITE (where the wheel and this
# package are installed, put first on PYTHONPATH: the image's own site-packages stay untouched;
# default /tmp/jax-tvm-ffi-gpu-site).
#
# It never uses the network: every pip call has --no-index, jax is never installed (the script
# stops if jax is missing: the GPU machine has its own jax and CUDA plugin), and the package is
# built with --no-build-isolation --no-deps. Each step has a time limit (30 + 150 + 200 + 80 s), so
# the whole run ends in under 8 minutes; a failed step is recorded and the later steps still run
# where they can.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT" || exit 2
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-$ROOT/build/gpu-run}"
BUILD_DIR="${GPU_RUN_BUILD_DIR:-/tmp/jax-tvm-ffi-gpu-build}"
SITE="${GPU_RUN_SITE:-/tmp/jax-tvm-ffi-gpu-site}"
mkdir -p "$SITE"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
LOG="$OUT/gpu_run.log"
STEPS="$OUT/gpu_steps.tsv"
: >"$STEPS"
exec > >(tee "$LOG") 2>&1

export PYTHONUNBUFFERED=1 PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# CuPy, the bridge's scratch memory and XLA share the card: do not let XLA take 75% up front.
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
# tvm_ffi.cpp.load_inline asks nvidia-smi for the architecture; name it so a failing query
# cannot stop the build (the H200 is 9.0).
if [[ -z "${TVM_FFI_CUDA_ARCH_LIST:-}" ]] && command -v nvidia-smi >/dev/null; then
  arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1)"
  arch="${arch// /}"
  [[ "$arch" =~ ^[0-9]+\.[0-9]+$ ]] && export TVM_FFI_CUDA_ARCH_LIST="$arch"
fi

# step NAME SECONDS COMMAND...: runs COMMAND under a time limit and records its status and time.
step() {
  local name="$1" limit="$2"
  shift 2
  echo "=== step $name (limit ${limit}s): $*"
  local start=$SECONDS
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  echo "=== step $name: exit $rc after $((SECONDS - start))s"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" >>"$STEPS"
  return $rc
}

echo "=== jax-tvm-ffi GPU run: $(date -u +%FT%TZ) in $ROOT, python $PYTHON, results in $OUT"
{ nvidia-smi || echo "nvidia-smi failed"; } >"$OUT/nvidia_smi.txt" 2>&1
cat "$OUT/nvidia_smi.txt"

# nvcc is what load_inline, CMake and the benchmark compile with.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

report() {
  "$PYTHON" "$ROOT/tests/gpu/write_report.py" --out "$OUT" --steps "$STEPS"
  local rc=$?
  echo "=== done in ${SECONDS}s: $OUT/gpu_run.json, $LOG"
  exit $rc
}

if ! "$PYTHON" -c "import jax, jaxlib" 2>/dev/null; then
  echo "error: jax is not importable by $PYTHON; this script never installs jax (no network on the"
  echo "GPU machine): use the Python that has jax and its CUDA plugin, e.g. PYTHON=/path/python3"
  printf 'jax-present\t1\t0\n' >>"$STEPS"
  report
fi
printf 'jax-present\t0\t0\n' >>"$STEPS"
echo "jax $("$PYTHON" -c 'import jax; print(jax.__version__, jax.devices())' 2>&1 | tail -n1)"

install_tvm_ffi() {
  if "$PYTHON" -c "import tvm_ffi" 2>/dev/null; then
    "$PYTHON" -c 'import tvm_ffi; print("apache-tvm-ffi already importable:", tvm_ffi.__version__)'
    return 0
  fi
  local wheel="${1:-}"
  if [[ -z "$wheel" ]]; then
    wheel="$(ls -1 "$ROOT"/wheels/apache_tvm_ffi-*.whl 2>/dev/null | sort -V | tail -n1)"
  fi
  if [[ -z "$wheel" || ! -f "$wheel" ]]; then
    echo "error: apache-tvm-ffi is not installed and no wheel was found (give its path, or put it"
    echo "in $ROOT/wheels/; download it with: pip download --no-deps --only-binary=:all:"
    echo "--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 -d wheels"
    echo "apache-tvm-ffi==0.1.15.post2)"
    return 1
  fi
  timeout 30 "$PYTHON" -m pip install --no-index --no-deps --upgrade --target "$SITE" "$wheel" ||
    return 1
  # --no-deps: its one requirement, typing-extensions, must already be there.
  "$PYTHON" -c "import tvm_ffi" || {
    echo "error: apache-tvm-ffi was installed from $wheel but does not import (see above)"
    return 1
  }
}
echo "=== step install-tvm-ffi"
start=$SECONDS
install_tvm_ffi "${1:-}"
printf 'install-tvm-ffi\t%s\t%s\n' "$?" "$((SECONDS - start))" >>"$STEPS"

# Built against the jax and apache-tvm-ffi installed here, with no download of build requirements.
step install-package 150 "$PYTHON" -m pip install --no-index --no-build-isolation --no-deps \
  --upgrade --target "$SITE" -C "build-dir=$BUILD_DIR" "$ROOT"

step gpu-suite 200 "$PYTHON" -m pytest "$ROOT/tests/gpu" -v -rs -p no:cacheprovider \
  --junitxml="$OUT/gpu_suite.xml"

step gpu-benchmark 80 "$PYTHON" "$ROOT/benchmarks/gpu/bench_gpu_loop.py" \
  --json "$OUT/gpu_bench.json" --build-dir "$BUILD_DIR/bench"

report
