/*!
 * \file main.cc
 * \brief The handler benchmark program: registers every group and runs Google Benchmark with the
 *        command line's flags (benchmarks/run.py passes --benchmark_format=json and friends).
 */
#include <benchmark/benchmark.h>

#include "alloc_counter.h"
#include "benchmarks.h"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Tells the reader whether allocs_per_call includes C allocations or only operator new.
  benchmark::AddCustomContext("malloc_counting",
                              jax_tvm_ffi_bench::MallocCountingWorks() ? "on" : "off");
  jax_tvm_ffi_bench::RegisterHandlerBenchmarks();
  jax_tvm_ffi_bench::RegisterScalingBenchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
