/*!
 * \file handler_benchmarks.cc
 * \brief One handler call, bridge against native, on the same synthetic call frames:
 *        - add_2t1a: one f32[16] argument, one result, one f32 attribute (y = x + attr);
 *        - mixed_8t4a: four arguments, four results, four scalar attributes of mixed kinds
 *          (f32, i64, bool, i32);
 *        - mixed_8t5a_str: the same plus a string attribute.
 *        The native handlers use XLA's typed binding (xla::ffi::Ffi::Bind); the bridged ones
 *        are TVM FFI functions with the same bodies, registered with jax_tvm_ffi::RegisterTarget.
 *        Benchmarks are named handler/<case>/<native|bridge>.
 */
#include <benchmark/benchmark.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/string.h>
#include <xla/ffi/api/ffi.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench_support.h"
#include "benchmarks.h"
#include "jax_tvm_ffi/jax_tvm_ffi.h"
#include "kernel_bodies.h"

namespace jax_tvm_ffi_bench {
namespace {

namespace ffi = xla::ffi;
using tvm::ffi::TensorView;
using F32Buffer = ffi::Buffer<ffi::F32>;
using F32Result = ffi::ResultBuffer<ffi::F32>;

constexpr int64_t kElements = 16;

const float* In(const TensorView& x) { return static_cast<const float*>(x.data_ptr()); }
float* Out(const TensorView& y) { return static_cast<float*>(y.data_ptr()); }

// ---------------------------------------------------------------------------------------------
// add_2t1a

ffi::Error AddNative(F32Buffer x, F32Result y, float attr) {
  AddScalar(x.typed_data(), y->typed_data(), static_cast<int64_t>(x.element_count()), attr);
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER(kAddNative, AddNative,
                       ffi::Ffi::Bind().Arg<F32Buffer>().Ret<F32Buffer>().Attr<float>("attr"));

XLA_FFI_Handler* RegisterAddBridge() {
  auto body = [](TensorView x, TensorView y, double attr) {
    AddScalar(In(x), Out(y), x.numel(), static_cast<float>(attr));
  };
  return jax_tvm_ffi::RegisterTarget("bench.handler.add_2t1a", tvm::ffi::Function::FromTyped(body),
                                     jax_tvm_ffi::ArgSpec::Parse({"args", "rets", "attrs.attr"}),
                                     jax_tvm_ffi::TargetOptions{});
}

void BenchAdd(benchmark::State& state, XLA_FFI_Handler* handler) {
  Frame frame(1, 1, {kElements});
  frame.attrs().Scalar<float>("attr", XLA_FFI_DataType_F32, 1.0f);
  RunHandler(state, handler, frame.Build());
}

// ---------------------------------------------------------------------------------------------
// mixed_8t4a and mixed_8t5a_str

// The native side of both mixed cases: the string case only adds `mode`.
ffi::Error MixedNativeBody(const F32Buffer (&x)[kMixedPairs], F32Result (&y)[kMixedPairs],
                           float alpha, int64_t count, bool flag, int32_t offset,
                           size_t mode_length) {
  const float* xs[kMixedPairs];
  float* ys[kMixedPairs];
  for (size_t i = 0; i < kMixedPairs; ++i) {
    xs[i] = x[i].typed_data();
    ys[i] = y[i]->typed_data();
  }
  AddMixed(xs, ys, static_cast<int64_t>(x[0].element_count()), alpha, count, flag, offset,
           mode_length);
  return ffi::Error::Success();
}

ffi::Error MixedNative(F32Buffer x0, F32Buffer x1, F32Buffer x2, F32Buffer x3, F32Result y0,
                       F32Result y1, F32Result y2, F32Result y3, float alpha, int64_t count,
                       bool flag, int32_t offset) {
  const F32Buffer x[kMixedPairs] = {x0, x1, x2, x3};
  F32Result y[kMixedPairs] = {y0, y1, y2, y3};
  return MixedNativeBody(x, y, alpha, count, flag, offset, 0);
}

ffi::Error MixedStringNative(F32Buffer x0, F32Buffer x1, F32Buffer x2, F32Buffer x3, F32Result y0,
                             F32Result y1, F32Result y2, F32Result y3, float alpha, int64_t count,
                             bool flag, int32_t offset, std::string_view mode) {
  const F32Buffer x[kMixedPairs] = {x0, x1, x2, x3};
  F32Result y[kMixedPairs] = {y0, y1, y2, y3};
  return MixedNativeBody(x, y, alpha, count, flag, offset, mode.size());
}

// The binding of both mixed cases; the string case adds `mode`.
auto MixedBinding() {
  return ffi::Ffi::Bind()
      .Arg<F32Buffer>()
      .Arg<F32Buffer>()
      .Arg<F32Buffer>()
      .Arg<F32Buffer>()
      .Ret<F32Buffer>()
      .Ret<F32Buffer>()
      .Ret<F32Buffer>()
      .Ret<F32Buffer>()
      .Attr<float>("alpha")
      .Attr<int64_t>("count")
      .Attr<bool>("flag")
      .Attr<int32_t>("offset");
}

XLA_FFI_DEFINE_HANDLER(kMixedNative, MixedNative, MixedBinding());
XLA_FFI_DEFINE_HANDLER(kMixedStringNative, MixedStringNative,
                       MixedBinding().Attr<std::string_view>("mode"));

// The bridged side: the bridge passes integers as int64 and floats as double.
void MixedBridgeBody(const TensorView (&x)[kMixedPairs], const TensorView (&y)[kMixedPairs],
                     double alpha, int64_t count, bool flag, int64_t offset, size_t mode_length) {
  const float* xs[kMixedPairs];
  float* ys[kMixedPairs];
  for (size_t i = 0; i < kMixedPairs; ++i) {
    xs[i] = In(x[i]);
    ys[i] = Out(y[i]);
  }
  AddMixed(xs, ys, x[0].numel(), static_cast<float>(alpha), count, flag,
           static_cast<int32_t>(offset), mode_length);
}

std::vector<std::string> MixedSpec() {
  return {"args", "rets", "attrs.alpha", "attrs.count", "attrs.flag", "attrs.offset"};
}

XLA_FFI_Handler* RegisterMixedBridge() {
  auto body = [](TensorView x0, TensorView x1, TensorView x2, TensorView x3, TensorView y0,
                 TensorView y1, TensorView y2, TensorView y3, double alpha, int64_t count,
                 bool flag, int64_t offset) {
    MixedBridgeBody({x0, x1, x2, x3}, {y0, y1, y2, y3}, alpha, count, flag, offset, 0);
  };
  return jax_tvm_ffi::RegisterTarget("bench.handler.mixed_8t4a",
                                     tvm::ffi::Function::FromTyped(body),
                                     jax_tvm_ffi::ArgSpec::Parse(MixedSpec()), {});
}

XLA_FFI_Handler* RegisterMixedStringBridge() {
  auto body = [](TensorView x0, TensorView x1, TensorView x2, TensorView x3, TensorView y0,
                 TensorView y1, TensorView y2, TensorView y3, double alpha, int64_t count,
                 bool flag, int64_t offset, tvm::ffi::String mode) {
    MixedBridgeBody({x0, x1, x2, x3}, {y0, y1, y2, y3}, alpha, count, flag, offset, mode.size());
  };
  std::vector<std::string> spec = MixedSpec();
  spec.push_back("attrs.mode");
  return jax_tvm_ffi::RegisterTarget("bench.handler.mixed_8t5a_str",
                                     tvm::ffi::Function::FromTyped(body),
                                     jax_tvm_ffi::ArgSpec::Parse(spec), {});
}

void AddMixedAttrs(jax_tvm_ffi::testing::AttrsBuilder& attrs) {
  attrs.Scalar<float>("alpha", XLA_FFI_DataType_F32, 0.5f)
      .Scalar<int64_t>("count", XLA_FFI_DataType_S64, 2)
      .Scalar<bool>("flag", XLA_FFI_DataType_PRED, true)
      .Scalar<int32_t>("offset", XLA_FFI_DataType_S32, 3);
}

void BenchMixed(benchmark::State& state, XLA_FFI_Handler* handler, bool with_string) {
  Frame frame(kMixedPairs, kMixedPairs, {kElements});
  AddMixedAttrs(frame.attrs());
  if (with_string) frame.attrs().String("mode", "fast");
  RunHandler(state, handler, frame.Build());
}

}  // namespace

void RegisterHandlerBenchmarks() {
  benchmark::RegisterBenchmark("handler/add_2t1a/native", BenchAdd, kAddNative);
  benchmark::RegisterBenchmark("handler/add_2t1a/bridge", BenchAdd, RegisterAddBridge());
  benchmark::RegisterBenchmark("handler/mixed_8t4a/native", BenchMixed, kMixedNative, false);
  benchmark::RegisterBenchmark("handler/mixed_8t4a/bridge", BenchMixed, RegisterMixedBridge(),
                               false);
  benchmark::RegisterBenchmark("handler/mixed_8t5a_str/native", BenchMixed, kMixedStringNative,
                               true);
  benchmark::RegisterBenchmark("handler/mixed_8t5a_str/bridge", BenchMixed,
                               RegisterMixedStringBridge(), true);
}

}  // namespace jax_tvm_ffi_bench
