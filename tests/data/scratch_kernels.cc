// Kernels that ask the environment allocator for temporaries, for tests/test_scratch_memory.py.
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>

#include <cstdint>
#include <cstring>

namespace {

constexpr DLDataType kF32{kDLFloat, 32, 1};
constexpr DLDataType kI64{kDLInt, 64, 1};

tvm::ffi::Tensor Temporary(int64_t n, DLDataType dtype, DLDevice device) {
  return tvm::ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, {n}, dtype, device);
}

void CheckF32(const tvm::ffi::TensorView& x, const char* name) {
  if (x.dtype() != kF32 || x.ndim() != 1) {
    TVM_FFI_THROW(ValueError) << name << " must be a 1-D float32 tensor";
  }
}

}  // namespace

// y[i] = sum of squares of x[0..i] + i, through a float32 and an int64 temporary.
void square_prefix_sum(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  CheckF32(x, "x");
  CheckF32(y, "y");
  const int64_t n = x.size(0);
  tvm::ffi::Tensor squares = Temporary(n, kF32, x.device());
  tvm::ffi::Tensor index = Temporary(n, kI64, x.device());
  const float* in = static_cast<const float*>(x.data_ptr());
  float* sq = static_cast<float*>(squares.data_ptr());
  int64_t* idx = static_cast<int64_t*>(index.data_ptr());
  for (int64_t i = 0; i < n; ++i) {
    sq[i] = in[i] * in[i];
    idx[i] = i;
  }
  float* out = static_cast<float*>(y.data_ptr());
  float running = 0;
  for (int64_t i = 0; i < n; ++i) {
    running += sq[i];
    out[i] = running + static_cast<float>(idx[i]);
  }
}

// Fills a `megabytes` temporary, then fails.
void allocate_then_fail(tvm::ffi::TensorView x, tvm::ffi::TensorView y, int64_t megabytes) {
  tvm::ffi::Tensor big = Temporary(megabytes << 18, kF32, x.device());
  std::memset(big.data_ptr(), 1, static_cast<size_t>(megabytes) << 20);
  TVM_FFI_THROW(RuntimeError) << "failed after allocating " << megabytes << " MiB of scratch";
}

// Copies x to y through a `megabytes` temporary.
void copy_through_scratch(tvm::ffi::TensorView x, tvm::ffi::TensorView y, int64_t megabytes) {
  CheckF32(x, "x");
  tvm::ffi::Tensor big = Temporary(megabytes << 18, kF32, x.device());
  float* tmp = static_cast<float*>(big.data_ptr());
  std::memset(tmp, 0, static_cast<size_t>(megabytes) << 20);
  const int64_t n = x.size(0) < (megabytes << 18) ? x.size(0) : (megabytes << 18);
  std::memcpy(tmp, x.data_ptr(), static_cast<size_t>(n) * sizeof(float));
  std::memcpy(y.data_ptr(), tmp, static_cast<size_t>(n) * sizeof(float));
}

namespace {
tvm::ffi::Tensor kept;
}  // namespace

// Keeps a temporary past the call (a kernel bug the bridge reports), or releases the kept one.
void keep_scratch(tvm::ffi::TensorView x, tvm::ffi::TensorView y, bool keep) {
  if (keep) {
    kept = Temporary(16, kF32, x.device());
  } else {
    kept = tvm::ffi::Tensor();
  }
}

// Asks for a temporary on a device the call is not on.
void scratch_on_cuda(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  Temporary(4, kF32, DLDevice{kDLCUDA, 0});
}
