/*!
 * \file bench_support.cc
 * \brief Call frames and the timed handler loop (see bench_support.h).
 */
#include "bench_support.h"

#include <functional>
#include <numeric>
#include <string>

#include "alloc_counter.h"

namespace jax_tvm_ffi_bench {

Frame::Frame(size_t num_args, size_t num_rets, const std::vector<int64_t>& dims) {
  const int64_t elements =
      std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<int64_t>());
  storage_.reserve(num_args + num_rets);
  for (size_t i = 0; i < num_args + num_rets; ++i) {
    storage_.emplace_back(static_cast<size_t>(elements), static_cast<float>(i));
    if (i < num_args) {
      builder_.AddArg(XLA_FFI_DataType_F32, storage_.back().data(), dims);
    } else {
      builder_.AddRet(XLA_FFI_DataType_F32, storage_.back().data(), dims);
    }
  }
}

void RunHandler(benchmark::State& state, XLA_FFI_Handler* handler, XLA_FFI_CallFrame* frame) {
  if (XLA_FFI_Error* error = handler(frame)) {
    const std::string message = jax_tvm_ffi::testing::TakeError(error).message;
    state.SkipWithError(message.c_str());
    for (auto _ : state) {
    }
    return;
  }
  // Hides the pointer's value from the optimizer, so the call stays an indirect call as in XLA.
  benchmark::DoNotOptimize(handler);
  const AllocCounts before = ThreadAllocCounts();
  for (auto _ : state) {
    XLA_FFI_Error* error = handler(frame);
    benchmark::DoNotOptimize(error);
  }
  const AllocCounts after = ThreadAllocCounts();
  using benchmark::Counter;
  state.counters["allocs_per_call"] =
      Counter(static_cast<double>(after.total() - before.total()), Counter::kAvgIterations);
  state.counters["news_per_call"] =
      Counter(static_cast<double>(after.news - before.news), Counter::kAvgIterations);
  state.counters["mallocs_per_call"] =
      Counter(static_cast<double>(after.mallocs - before.mallocs), Counter::kAvgIterations);
}

}  // namespace jax_tvm_ffi_bench
