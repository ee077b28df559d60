// A kernel library built with tvm_ffi.cpp.build and loaded with tvm_ffi.load_module by
// tests/test_function_sources.py: the path a precompiled kernel library takes.
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

namespace {

// y = 3 * x + bias, float32.
void ScaleByThree(tvm::ffi::TensorView x, tvm::ffi::TensorView y, double bias) {
  DLDataType f32{kDLFloat, 32, 1};
  TVM_FFI_ICHECK(x.dtype() == f32 && y.dtype() == f32) << "x and y must be float32";
  TVM_FFI_ICHECK_EQ(x.numel(), y.numel());
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = 3.0f * in[i] + static_cast<float>(bias);
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(scale_by_three, ScaleByThree);
