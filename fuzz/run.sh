#!/usr/bin/env bash
# Builds the libFuzzer targets with AddressSanitizer and UndefinedBehaviorSanitizer (clang) and
# runs each for a bounded time. Usage: fuzz/run.sh [SECONDS_PER_FUZZER] (default 60).
# Environment: PYTHON (an interpreter with jax and apache-tvm-ffi; default python3),
# BUILD_DIR (default build/fuzz), CXX (default clang++). The corpora grow in
# $BUILD_DIR/corpus/<fuzzer>; a failing input is written to $BUILD_DIR/artifacts/ and the script
# exits non-zero. Replay one with: $BUILD_DIR/fuzz/<fuzzer> <file>.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
build="${BUILD_DIR:-build/fuzz}"

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
  -DPython_EXECUTABLE="$(command -v "${PYTHON:-python3}")" \
  -DJAX_TVM_FFI_BUILD_FUZZERS=ON >/dev/null
cmake --build "$build" --target fuzz_arg_spec fuzz_call_frame fuzz_payload

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
# Errors thrown by the parser need no backtrace; collecting one halves the execution rate.
export TVM_TRACEBACK_LIMIT="${TVM_TRACEBACK_LIMIT:-0}"
mkdir -p "$build/artifacts"
for fuzzer in fuzz_arg_spec fuzz_call_frame fuzz_payload; do
  corpus="$build/corpus/$fuzzer"
  mkdir -p "$corpus"
  options=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$build/artifacts/$fuzzer-")
  [ "$fuzzer" = fuzz_arg_spec ] && options+=(-dict=fuzz/arg_spec.dict)
  echo "== $fuzzer for ${seconds}s"
  log="$build/$fuzzer.log"
  if ! "$build/fuzz/$fuzzer" "${options[@]}" "$corpus" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "$fuzzer FAILED; the input is in $build/artifacts/"
    exit 1
  fi
  grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | tail -n 1 || true
  grep -E "stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$log" || true
done
