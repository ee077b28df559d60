// C++ kernels for the embedded-kernel tests (tests/test_embedded.py) and their worker
// (tests/data/embedded_worker.py). Built with tvm_ffi.cpp.load_inline into a temporary build
// directory, so that a test can delete the library file and show the program still runs.
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>

#include <cstdint>

using tvm::ffi::TensorView;

namespace {

void CheckFloat32(const TensorView& x, const char* what) {
  if (x.dtype().code != kDLFloat || x.dtype().bits != 32 || x.dtype().lanes != 1) {
    TVM_FFI_THROW(TypeError) << what << " must be float32";
  }
}

}  // namespace

// y = alpha * x + 1, elementwise (alpha: an attribute).
void affine(TensorView x, TensorView y, double alpha) {
  CheckFloat32(x, "x");
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = static_cast<float>(alpha) * in[i] + 1.0f;
}

// y = x * x, elementwise.
void square(TensorView x, TensorView y) {
  CheckFloat32(x, "x");
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] * in[i];
}
