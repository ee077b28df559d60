// A CUDA kernel that needs device scratch memory: it centres a vector (y = x - mean(x)) in two
// launches, the first writing one partial sum per block into a temporary that the bridge serves
// from XLA's device allocator, on the stream XLA runs the call on.
//
// Build: nvcc -shared -Xcompiler -fPIC -std=c++17 -I$(python -m tvm_ffi.config --includedir) \
//          -I$(python -m tvm_ffi.config --dlpack-includedir) cuda_scratch.cu -o cuda_scratch.so \
//          -L$(python -m tvm_ffi.config --libdir) -ltvm_ffi
// Use:
//   mod = tvm_ffi.load_module("cuda_scratch.so")
//   jax_tvm_ffi.register_ffi_target("cuda.center", mod.center, platform="gpu")
//   jax_tvm_ffi.scratch_usage("cuda.center", platform="gpu")  # one allocation per call
#include <cuda_runtime.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>

namespace {

constexpr int kThreads = 256;

// partial[b] = the sum of block b's elements of x.
__global__ void BlockSums(const float* x, float* partial, int64_t n) {
  __shared__ float sums[kThreads];
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  sums[threadIdx.x] = i < n ? x[i] : 0.0f;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) sums[threadIdx.x] += sums[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sums[0];
}

// y = x - (the sum of partial) / n.
__global__ void Subtract(const float* x, const float* partial, int blocks, float* y, int64_t n) {
  __shared__ float mean;
  if (threadIdx.x == 0) {
    float total = 0.0f;
    for (int b = 0; b < blocks; ++b) total += partial[b];
    mean = total / static_cast<float>(n);
  }
  __syncthreads();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] - mean;
}

void Center(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  const DLDataType f32{kDLFloat, 32, 1};
  TVM_FFI_ICHECK(x.ndim() == 1 && y.ndim() == 1) << "x and y must be 1-D";
  TVM_FFI_ICHECK(x.dtype() == f32 && y.dtype() == f32) << "x and y must be float32";
  TVM_FFI_ICHECK(x.size(0) == y.size(0)) << "x and y must have the same length";
  TVM_FFI_ICHECK(x.device().device_type == kDLCUDA) << "x must be on a CUDA device";
  const int64_t n = x.size(0);
  if (n == 0) return;
  const int blocks = static_cast<int>((n + kThreads - 1) / kThreads);
  // Served by the bridge from XLA's allocator for this call, and given back when it ends.
  tvm::ffi::Tensor partial =
      tvm::ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, {blocks}, f32, x.device());
  // The stream the bridge installed: XLA's stream for this call.
  auto stream =
      static_cast<cudaStream_t>(TVMFFIEnvGetStream(x.device().device_type, x.device().device_id));
  const float* in = static_cast<const float*>(x.data_ptr());
  float* sums = static_cast<float*>(partial.data_ptr());
  BlockSums<<<blocks, kThreads, 0, stream>>>(in, sums, n);
  Subtract<<<blocks, kThreads, 0, stream>>>(in, sums, blocks, static_cast<float*>(y.data_ptr()), n);
  cudaError_t error = cudaGetLastError();
  TVM_FFI_ICHECK(error == cudaSuccess) << "kernel launch failed: " << cudaGetErrorString(error);
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(center, Center);
