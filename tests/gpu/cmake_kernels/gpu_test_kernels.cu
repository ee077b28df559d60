/*!
 * \file tests/gpu/cmake_kernels/gpu_test_kernels.cu
 * \brief The GPU suite's CMake-built library: a bridged TVM FFI kernel (`scale`) and two native
 * XLA FFI handlers that set and read the TVM FFI environment stream on the thread XLA runs them
 * on, so a test can see what a bridged call between them left behind.
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

// What SetSentinelStream installs: never a real stream, only compared.
const TVMFFIStreamHandle kSentinel = reinterpret_cast<TVMFFIStreamHandle>(uintptr_t{0x5e47100});

// Per thread: whether SetSentinelStream ran on it, and what it replaced.
thread_local bool sentinel_set = false;
thread_local TVMFFIStreamHandle before_sentinel = nullptr;

__global__ void ScaleKernel(const float* x, float* y, int64_t n, float factor) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] * factor;
}

__global__ void WriteWords(uint64_t* out, uint64_t a, uint64_t b, uint64_t c) {
  out[0] = a;
  out[1] = b;
  out[2] = c;
}

// y = x * factor on the environment stream; a negative factor is refused in host code.
void Scale(tvm::ffi::TensorView x, tvm::ffi::TensorView y, double factor) {
  const DLDataType f32{kDLFloat, 32, 1};
  if (x.dtype() != f32 || y.dtype() != f32 || x.numel() != y.numel()) {
    TVM_FFI_THROW(TypeError) << "scale: x and y must be float32 of one size, got " << x.dtype()
                             << " and " << y.dtype();
  }
  if (factor < 0) {
    TVM_FFI_THROW(ValueError) << "scale: factor must be >= 0, got " << factor;
  }
  const int64_t n = x.numel();
  if (n == 0) return;
  auto stream =
      static_cast<cudaStream_t>(TVMFFIEnvGetStream(x.device().device_type, x.device().device_id));
  ScaleKernel<<<static_cast<int>((n + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      static_cast<const float*>(x.data_ptr()), static_cast<float*>(y.data_ptr()), n,
      static_cast<float>(factor));
  cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    TVM_FFI_THROW(RuntimeError) << "scale: kernel launch failed: " << cudaGetErrorString(error);
  }
}

ffi::Error CopyOn(cudaStream_t stream, ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> y) {
  if (x.size_bytes() != y->size_bytes()) return ffi::Error::InvalidArgument("sizes differ");
  if (x.size_bytes() == 0) return ffi::Error::Success();
  if (cudaMemcpyAsync(y->untyped_data(), x.untyped_data(), x.size_bytes(), cudaMemcpyDeviceToDevice,
                      stream) != cudaSuccess) {
    return ffi::Error::Internal("cudaMemcpyAsync failed");
  }
  return ffi::Error::Success();
}

// y = x; installs kSentinel as this thread's environment stream for the device.
ffi::Error SetSentinelStreamImpl(cudaStream_t stream, int32_t device, ffi::AnyBuffer x,
                                 ffi::Result<ffi::AnyBuffer> y) {
  TVMFFIStreamHandle previous = nullptr;
  if (TVMFFIEnvSetStream(kDLCUDA, device, kSentinel, &previous) != 0) {
    return ffi::Error::Internal("TVMFFIEnvSetStream failed");
  }
  if (!sentinel_set) before_sentinel = previous;
  sentinel_set = true;
  return CopyOn(stream, x, y);
}

// info (uint64[3]) = [this thread's environment stream, 1 if SetSentinelStream ran on this
// thread, XLA's stream]; then puts back the environment stream from before the sentinel.
ffi::Error ReadEnvStreamImpl(cudaStream_t stream, int32_t device, ffi::AnyBuffer x,
                             ffi::Result<ffi::AnyBuffer> info) {
  (void)x;
  if (info->size_bytes() != 3 * sizeof(uint64_t)) {
    return ffi::Error::InvalidArgument("info must be uint64[3]");
  }
  const uint64_t env = reinterpret_cast<uint64_t>(TVMFFIEnvGetStream(kDLCUDA, device));
  WriteWords<<<1, 1, 0, stream>>>(static_cast<uint64_t*>(info->untyped_data()), env,
                                  sentinel_set ? 1 : 0, reinterpret_cast<uint64_t>(stream));
  if (cudaGetLastError() != cudaSuccess) return ffi::Error::Internal("launch failed");
  if (sentinel_set) {
    TVMFFIEnvSetStream(kDLCUDA, device, before_sentinel, nullptr);
    sentinel_set = false;
  }
  return ffi::Error::Success();
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(scale, Scale);

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxTvmFfiGpuTestSetSentinelStream, SetSentinelStreamImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Ctx<ffi::DeviceOrdinal>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxTvmFfiGpuTestReadEnvStream, ReadEnvStreamImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Ctx<ffi::DeviceOrdinal>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>());
