/*!
 * \file tests/gpu/inline_kernels.cu
 * \brief CUDA kernels of the GPU suite built with tvm_ffi.cpp.load_inline(cuda_sources=...):
 * launches on the environment stream and on "ctx.stream", a CUDA-graph probe, device scratch
 * memory (a failing kernel, addresses), dtype-aware sign flips, and host-code errors. The scratch
 * kernel that succeeds is examples/cuda_scratch.cu, which the suite builds as it is.
 */
#include <cuda_runtime.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/function.h>

#include <atomic>
#include <cstdint>

namespace {

constexpr int kThreads = 256;

void CheckLaunch(const char* what) {
  cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    TVM_FFI_THROW(RuntimeError) << what << ": kernel launch failed: " << cudaGetErrorString(error);
  }
}

int Blocks(int64_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

cudaStream_t EnvStream(const tvm::ffi::TensorView& x) {
  return static_cast<cudaStream_t>(
      TVMFFIEnvGetStream(x.device().device_type, x.device().device_id));
}

void CheckFloat32Pair(const char* what, const tvm::ffi::TensorView& x,
                      const tvm::ffi::TensorView& y) {
  const DLDataType f32{kDLFloat, 32, 1};
  if (x.dtype() != f32 || y.dtype() != f32) {
    TVM_FFI_THROW(TypeError) << what << ": x and y must be float32 on the GPU, got " << x.dtype()
                             << " and " << y.dtype();
  }
  if (x.numel() != y.numel()) {
    TVM_FFI_THROW(ValueError) << what << ": x has " << x.numel() << " elements, y " << y.numel();
  }
  if (x.device().device_type != kDLCUDA) {
    TVM_FFI_THROW(ValueError) << what << ": x must be on a CUDA device";
  }
}

__global__ void AddOneKernel(const float* x, float* y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] + 1.0f;
}

// y = x + 1 after `steps` dependent no-op steps per element: slow on purpose, so that an op that
// did not wait for this kernel would read unwritten memory and a race shows in the results.
__global__ void SlowAddOneKernel(const float* x, float* y, int64_t n, int steps) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float value = x[i];
  // Adding and subtracting 0.5 keeps the value exact for the small integers the tests use.
  for (int s = 0; s < steps; ++s) value = (value + 0.5f) - 0.5f;
  y[i] = value + 1.0f;
}

__global__ void WriteWords(uint64_t* out, uint64_t a, uint64_t b, uint64_t c) {
  out[0] = a;
  out[1] = b;
  out[2] = c;
}

void LaunchAddOne(const char* what, const tvm::ffi::TensorView& x, const tvm::ffi::TensorView& y,
                  cudaStream_t stream, int steps) {
  CheckFloat32Pair(what, x, y);
  const int64_t n = x.numel();
  if (n == 0) return;  // a grid of zero blocks is an invalid launch
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  if (steps == 0) {
    AddOneKernel<<<Blocks(n), kThreads, 0, stream>>>(in, out, n);
  } else {
    SlowAddOneKernel<<<Blocks(n), kThreads, 0, stream>>>(in, out, n, steps);
  }
  CheckLaunch(what);
}

// y = x + 1 on the stream the bridge installed (TVMFFIEnvGetStream).
void AddOneEnv(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  LaunchAddOne("add_one_env", x, y, EnvStream(x), 0);
}

// y = x + 1, slowly, on the environment stream.
void SlowAddOneEnv(tvm::ffi::TensorView x, tvm::ffi::TensorView y, int64_t steps) {
  LaunchAddOne("slow_add_one_env", x, y, EnvStream(x), static_cast<int>(steps));
}

// y = x + 1, slowly, on the stream passed as "ctx.stream".
void SlowAddOneStream(tvm::ffi::TensorView x, tvm::ffi::TensorView y, int64_t steps,
                      int64_t stream) {
  LaunchAddOne("slow_add_one_stream", x, y, reinterpret_cast<cudaStream_t>(stream),
               static_cast<int>(steps));
}

// y = x + 1; info (uint64[3]) = [environment stream, "ctx.stream", device id of x].
void StreamProbe(tvm::ffi::TensorView x, tvm::ffi::TensorView y, tvm::ffi::TensorView info,
                 int64_t stream) {
  const uint64_t env = reinterpret_cast<uint64_t>(EnvStream(x));
  LaunchAddOne("stream_probe", x, y, reinterpret_cast<cudaStream_t>(stream), 0);
  WriteWords<<<1, 1, 0, reinterpret_cast<cudaStream_t>(stream)>>>(
      static_cast<uint64_t*>(info.data_ptr()), env, static_cast<uint64_t>(stream),
      static_cast<uint64_t>(x.device().device_id));
  CheckLaunch("stream_probe");
}

std::atomic<int64_t> graph_probe_host_calls{0};

__global__ void AddOneAndFlag(const float* x, float* y, int64_t n, int32_t* flag, int32_t value) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] + 1.0f;
  if (i == 0) flag[0] = value;
}

// y = x + 1; captured (int32 scalar) = 1 when the stream was being captured into a CUDA graph
// while the host code ran. A replayed graph does not run this host code, so the number of host
// calls (graph_probe_host_calls) counts captures and uncaptured runs, not replays.
void GraphProbe(tvm::ffi::TensorView x, tvm::ffi::TensorView y, tvm::ffi::TensorView captured) {
  CheckFloat32Pair("graph_probe", x, y);
  graph_probe_host_calls.fetch_add(1);
  cudaStream_t stream = EnvStream(x);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &status) != cudaSuccess) {
    TVM_FFI_THROW(RuntimeError) << "graph_probe: cudaStreamIsCapturing failed";
  }
  const int64_t n = x.numel();
  AddOneAndFlag<<<Blocks(n > 0 ? n : 1), kThreads, 0, stream>>>(
      static_cast<const float*>(x.data_ptr()), static_cast<float*>(y.data_ptr()), n,
      static_cast<int32_t*>(captured.data_ptr()), status == cudaStreamCaptureStatusActive ? 1 : 0);
  CheckLaunch("graph_probe");
}

// Returns the host calls of graph_probe since the last reset, and resets the count.
int64_t TakeGraphProbeHostCalls() { return graph_probe_host_calls.exchange(0); }

// Allocates device scratch memory, queues a kernel writing it, then fails in host code: the
// bridge must give the scratch back and report the error.
void ScratchThenFail(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  CheckFloat32Pair("scratch_then_fail", x, y);
  const int64_t n = x.numel() > 0 ? x.numel() : 1;
  tvm::ffi::Tensor tmp = tvm::ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, {n},
                                                        DLDataType{kDLFloat, 32, 1}, x.device());
  AddOneKernel<<<Blocks(n), kThreads, 0, EnvStream(x)>>>(
      static_cast<const float*>(x.data_ptr()), static_cast<float*>(tmp.data_ptr()), x.numel());
  CheckLaunch("scratch_then_fail");
  TVM_FFI_THROW(RuntimeError) << "scratch_then_fail: failing on purpose after allocating " << n * 4
                              << " bytes of scratch";
}

// Allocates two device scratch tensors of the given byte sizes and writes their addresses and
// the first one's byte size into addresses (uint64[3]); y = x + 1 through the first one.
void ScratchAddresses(tvm::ffi::TensorView x, tvm::ffi::TensorView y,
                      tvm::ffi::TensorView addresses, int64_t first_bytes, int64_t second_bytes) {
  CheckFloat32Pair("scratch_addresses", x, y);
  const DLDataType u8{kDLUInt, 8, 1};
  tvm::ffi::Tensor first =
      tvm::ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, {first_bytes}, u8, x.device());
  tvm::ffi::Tensor second =
      tvm::ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, {second_bytes}, u8, x.device());
  if (first.device().device_type != kDLCUDA || second.device().device_type != kDLCUDA) {
    TVM_FFI_THROW(RuntimeError) << "scratch_addresses: scratch tensors are not on the GPU";
  }
  cudaStream_t stream = EnvStream(x);
  const int64_t n = x.numel();
  if (first_bytes < n * 4) {
    TVM_FFI_THROW(ValueError) << "scratch_addresses: first_bytes must hold x";
  }
  float* tmp = static_cast<float*>(first.data_ptr());
  if (n > 0) {
    AddOneKernel<<<Blocks(n), kThreads, 0, stream>>>(static_cast<const float*>(x.data_ptr()), tmp,
                                                     n);
    CheckLaunch("scratch_addresses");
    if (cudaMemcpyAsync(y.data_ptr(), tmp, n * 4, cudaMemcpyDeviceToDevice, stream) !=
        cudaSuccess) {
      TVM_FFI_THROW(RuntimeError) << "scratch_addresses: cudaMemcpyAsync failed";
    }
  }
  WriteWords<<<1, 1, 0, stream>>>(
      static_cast<uint64_t*>(addresses.data_ptr()), reinterpret_cast<uint64_t>(first.data_ptr()),
      reinterpret_cast<uint64_t>(second.data_ptr()), static_cast<uint64_t>(first_bytes));
  CheckLaunch("scratch_addresses");
}

template <typename Word>
__global__ void FlipTopBit(const Word* x, Word* y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] ^ (Word{1} << (sizeof(Word) * 8 - 1));
}

bool IsFloatCode(uint8_t code) {
  return code == kDLFloat || code == kDLBfloat ||
         (code >= kDLFloat8_e3m4 && code <= kDLFloat8_e8m0fnu);
}

// y = -x for any floating-point dtype of 8, 16, 32 or 64 bits, by flipping each element's sign
// bit: right only when the bridge gave the element size JAX uses.
void Negate(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  const DLDataType t = x.dtype();
  if (t != y.dtype() || !IsFloatCode(t.code) || t.lanes != 1) {
    TVM_FFI_THROW(TypeError) << "negate: x and y must have one floating-point dtype, got "
                             << x.dtype() << " and " << y.dtype();
  }
  const int64_t n = x.numel();
  if (n == 0) return;
  cudaStream_t stream = EnvStream(x);
  switch (t.bits) {
    case 8:
      FlipTopBit<<<Blocks(n), kThreads, 0, stream>>>(static_cast<const uint8_t*>(x.data_ptr()),
                                                     static_cast<uint8_t*>(y.data_ptr()), n);
      break;
    case 16:
      FlipTopBit<<<Blocks(n), kThreads, 0, stream>>>(static_cast<const uint16_t*>(x.data_ptr()),
                                                     static_cast<uint16_t*>(y.data_ptr()), n);
      break;
    case 32:
      FlipTopBit<<<Blocks(n), kThreads, 0, stream>>>(static_cast<const uint32_t*>(x.data_ptr()),
                                                     static_cast<uint32_t*>(y.data_ptr()), n);
      break;
    case 64:
      FlipTopBit<<<Blocks(n), kThreads, 0, stream>>>(static_cast<const uint64_t*>(x.data_ptr()),
                                                     static_cast<uint64_t*>(y.data_ptr()), n);
      break;
    default:
      TVM_FFI_THROW(TypeError) << "negate: unsupported element size " << int(t.bits);
  }
  CheckLaunch("negate");
}

// out (int64[5]) = [dtype code, bits, lanes, ndim, numel] of x, as the kernel sees it.
void Describe(tvm::ffi::TensorView x, tvm::ffi::TensorView out) {
  const DLDataType t = x.dtype();
  int64_t words[5] = {t.code, t.bits, t.lanes, x.ndim(), x.numel()};
  if (cudaMemcpyAsync(out.data_ptr(), words, sizeof(words), cudaMemcpyHostToDevice,
                      EnvStream(out)) != cudaSuccess) {
    TVM_FFI_THROW(RuntimeError) << "describe: cudaMemcpyAsync failed";
  }
  // Pageable source memory: wait, so that the host array outlives the copy.
  if (cudaStreamSynchronize(EnvStream(out)) != cudaSuccess) {
    TVM_FFI_THROW(RuntimeError) << "describe: cudaStreamSynchronize failed";
  }
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(add_one_env, AddOneEnv);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(slow_add_one_env, SlowAddOneEnv);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(slow_add_one_stream, SlowAddOneStream);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(stream_probe, StreamProbe);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(graph_probe, GraphProbe);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(take_graph_probe_host_calls, TakeGraphProbeHostCalls);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(scratch_then_fail, ScratchThenFail);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(scratch_addresses, ScratchAddresses);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(negate, Negate);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(describe, Describe);
