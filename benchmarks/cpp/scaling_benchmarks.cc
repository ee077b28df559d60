/*!
 * \file scaling_benchmarks.cc
 * \brief Per-call cost against the number of tensors (1, 4, 16, 64) and their rank (0, 1, 4, 8),
 *        bridge against native. Every tensor is an f32 argument with every dimension 2; both
 *        functions take a variable number of tensors (the native one through
 *        xla::ffi::RemainingArgs) and add up their element counts, so each side decodes and
 *        reads every buffer. Benchmarks are named scaling/<native|bridge>/tensors:T/rank:R.
 */
#include <benchmark/benchmark.h>
#include <tvm/ffi/any.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/function.h>
#include <xla/ffi/api/ffi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench_support.h"
#include "benchmarks.h"
#include "jax_tvm_ffi/jax_tvm_ffi.h"

namespace jax_tvm_ffi_bench {
namespace {

namespace ffi = xla::ffi;

constexpr int64_t kTensorCounts[] = {1, 4, 16, 64};
constexpr int64_t kRanks[] = {0, 1, 4, 8};

ffi::Error CountElementsNative(ffi::RemainingArgs args) {
  int64_t elements = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    ffi::ErrorOr<ffi::AnyBuffer> buffer = args.get<ffi::AnyBuffer>(i);
    if (XLA_FFI_PREDICT_FALSE(buffer.has_error())) return buffer.error();
    elements += static_cast<int64_t>(buffer->element_count());
  }
  benchmark::DoNotOptimize(elements);
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER(kCountElementsNative, CountElementsNative, ffi::Ffi::Bind().RemainingArgs());

XLA_FFI_Handler* RegisterCountElementsBridge() {
  auto body = [](tvm::ffi::PackedArgs args, tvm::ffi::Any*) {
    int64_t elements = 0;
    for (int i = 0; i < args.size(); ++i) elements += args[i].cast<tvm::ffi::TensorView>().numel();
    benchmark::DoNotOptimize(elements);
  };
  return jax_tvm_ffi::RegisterTarget("bench.scaling.count_elements",
                                     tvm::ffi::Function::FromPacked(body),
                                     jax_tvm_ffi::ArgSpec::Default(), {});
}

void BenchScaling(benchmark::State& state, XLA_FFI_Handler* handler, int64_t tensors,
                  int64_t rank) {
  Frame frame(static_cast<size_t>(tensors), 0, std::vector<int64_t>(static_cast<size_t>(rank), 2));
  RunHandler(state, handler, frame.Build());
}

}  // namespace

void RegisterScalingBenchmarks() {
  XLA_FFI_Handler* bridge = RegisterCountElementsBridge();
  for (const char* side : {"native", "bridge"}) {
    XLA_FFI_Handler* handler = std::string(side) == "native" ? kCountElementsNative : bridge;
    for (int64_t tensors : kTensorCounts) {
      for (int64_t rank : kRanks) {
        const std::string name = std::string("scaling/") + side +
                                 "/tensors:" + std::to_string(tensors) +
                                 "/rank:" + std::to_string(rank);
        benchmark::RegisterBenchmark(name.c_str(), BenchScaling, handler, tensors, rank);
      }
    }
  }
}

}  // namespace jax_tvm_ffi_bench
