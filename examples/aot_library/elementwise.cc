/*!
 * \file elementwise.cc
 * \brief Elementwise kernels of the library: any shape, the output shaped like the input.
 *
 * Exported: add_one(x, y), scale(x, y, factor), clamp_i32(x, y, lo, hi).
 */
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

#include <algorithm>
#include <cstdint>

#include "checks.h"

namespace aot_kernels {
namespace {

using tvm::ffi::TensorView;

// y = x + 1, float32.
void AddOne(TensorView x, TensorView y) {
  CheckTensor("add_one", "x", x, kFloat32);
  CheckTensor("add_one", "y", y, kFloat32);
  CheckShape("add_one", "y", y, x.shape());
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] + 1.0f;
}

// y = x * factor, float32; factor is a float attribute.
void Scale(TensorView x, TensorView y, double factor) {
  CheckTensor("scale", "x", x, kFloat32);
  CheckTensor("scale", "y", y, kFloat32);
  CheckShape("scale", "y", y, x.shape());
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  const float f = static_cast<float>(factor);
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] * f;
}

// y = min(max(x, lo), hi), int32; lo and hi are integer attributes.
void ClampI32(TensorView x, TensorView y, int64_t lo, int64_t hi) {
  CheckTensor("clamp_i32", "x", x, kInt32);
  CheckTensor("clamp_i32", "y", y, kInt32);
  CheckShape("clamp_i32", "y", y, x.shape());
  if (lo > hi) {
    TVM_FFI_THROW(ValueError) << "clamp_i32: lo must not exceed hi, got lo=" << lo << " hi=" << hi;
  }
  if (lo < INT32_MIN || hi > INT32_MAX) {
    TVM_FFI_THROW(ValueError) << "clamp_i32: lo and hi must fit int32, got lo=" << lo
                              << " hi=" << hi;
  }
  const int32_t* in = static_cast<const int32_t*>(x.data_ptr());
  int32_t* out = static_cast<int32_t*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) {
    out[i] = static_cast<int32_t>(std::clamp<int64_t>(in[i], lo, hi));
  }
}

}  // namespace
}  // namespace aot_kernels

TVM_FFI_DLL_EXPORT_TYPED_FUNC(add_one, aot_kernels::AddOne);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(scale, aot_kernels::Scale);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(clamp_i32, aot_kernels::ClampI32);
