/*
 * callgrind_marks.c: callgrind's client requests as plain C functions, so that the
 * instruction-count benchmark (benchmarks/bench_instructions.py) can count exactly the loop it
 * measures from Python, through ctypes. Outside valgrind each request is a few no-op instructions.
 */
#include <valgrind/callgrind.h>

/* Counts from here on, starting from zero. */
void jax_tvm_ffi_bench_count_start(void) {
  CALLGRIND_START_INSTRUMENTATION;
  CALLGRIND_ZERO_STATS;
}

/* Writes what was counted since the start into a profile named `label`, and stops counting. */
void jax_tvm_ffi_bench_count_stop(const char* label) {
  CALLGRIND_DUMP_STATS_AT(label);
  CALLGRIND_STOP_INSTRUMENTATION;
}
