/*!
 * \file benchmarks/gpu/gpu_loop_kernels.cu
 * \brief The GPU loop benchmark's kernel, y = x + 1 on a tiny float32 buffer, launched the same
 * way by a native XLA FFI CUDA handler and by a TVM FFI function the bridge calls.
 */
#include <cuda_runtime.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>

#include <cstdint>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int kThreads = 256;

__global__ void AddOneKernel(const float* x, float* y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] + 1.0f;
}

// The one launch both sides make; returns false when the launch failed.
bool LaunchAddOne(const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return true;
  AddOneKernel<<<static_cast<int>((n + kThreads - 1) / kThreads), kThreads, 0, stream>>>(x, y, n);
  return cudaGetLastError() == cudaSuccess;
}

ffi::Error AddOneNative(cudaStream_t stream, ffi::Buffer<ffi::F32> x,
                        ffi::Result<ffi::Buffer<ffi::F32>> y) {
  if (!LaunchAddOne(x.typed_data(), y->typed_data(), static_cast<int64_t>(x.element_count()),
                    stream)) {
    return ffi::Error::Internal("add_one: kernel launch failed");
  }
  return ffi::Error::Success();
}

// What a TVM FFI kernel typically does: the stream from the environment the bridge installed.
void AddOne(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  auto stream =
      static_cast<cudaStream_t>(TVMFFIEnvGetStream(x.device().device_type, x.device().device_id));
  if (!LaunchAddOne(static_cast<const float*>(x.data_ptr()), static_cast<float*>(y.data_ptr()),
                    x.numel(), stream)) {
    TVM_FFI_THROW(RuntimeError) << "add_one: kernel launch failed";
  }
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(add_one, AddOne);

// The same handler twice: without and with the command-buffer (CUDA graph) trait.
XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxTvmFfiGpuBenchAddOneNative, AddOneNative,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxTvmFfiGpuBenchAddOneNativeGraph, AddOneNative,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>(),
                              {ffi::Traits::kCmdBufferCompatible});
