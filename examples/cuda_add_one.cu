// A CUDA kernel exported with the TVM FFI ABI that launches on the stream XLA passes it.
//
// Build: nvcc -shared -Xcompiler -fPIC -std=c++17 -I$(python -m tvm_ffi.config --includedir) \
//          -I$(python -m tvm_ffi.config --dlpack-includedir) cuda_add_one.cu -o cuda_add_one.so \
//          -L$(python -m tvm_ffi.config --libdir) -ltvm_ffi
// Use (see README, "GPU"):
//   mod = tvm_ffi.load_module("cuda_add_one.so")
//   jax_tvm_ffi.register_ffi_target("cuda.add_one", mod.add_one,
//                                   ["args", "rets", "ctx.stream"], platform="gpu")
#include <cuda_runtime.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

namespace {

__global__ void AddOneKernel(const float* x, float* y, int64_t n) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] + 1.0f;
}

void AddOne(tvm::ffi::TensorView x, tvm::ffi::TensorView y, int64_t stream) {
  TVM_FFI_ICHECK(x.ndim() == 1 && y.ndim() == 1) << "x and y must be 1-D";
  TVM_FFI_ICHECK(x.size(0) == y.size(0)) << "x and y must have the same length";
  TVM_FFI_ICHECK(x.device().device_type == kDLCUDA) << "x must be on a CUDA device";
  const int64_t n = x.size(0);
  const int threads = 256;
  const int blocks = static_cast<int>((n + threads - 1) / threads);
  AddOneKernel<<<blocks, threads, 0, reinterpret_cast<cudaStream_t>(stream)>>>(
      static_cast<const float*>(x.data_ptr()), static_cast<float*>(y.data_ptr()), n);
  cudaError_t error = cudaGetLastError();
  TVM_FFI_ICHECK(error == cudaSuccess) << "kernel launch failed: " << cudaGetErrorString(error);
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(add_one, AddOne);
