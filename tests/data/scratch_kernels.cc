// Kernels that ask the environment allocator for temporaries, for tests/test_scratch_memory.py.
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
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

// Asks for 2^61 + 64 bytes of scratch and writes 16 MiB of them (issue 17: the size once wrapped
// around 2^64 and 64 bytes were served).
void huge_scratch(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  tvm::ffi::Tensor big = tvm::ffi::Tensor::FromEnvAlloc(
      TVMFFIEnvTensorAlloc, {(int64_t{1} << 61) + 64}, DLDataType{kDLUInt, 8, 1}, x.device());
  std::memset(big.data_ptr(), 1, size_t{16} << 20);
}

// Asks for 16 elements each of int1, int2 and uint2 (issue 17: always refused once), fills the
// 2, 4 and 4 bytes they take and writes their sizes into y.
void sub_byte_scratch(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  CheckF32(y, "y");
  float* out = static_cast<float*>(y.data_ptr());
  const DLDataType dtypes[] = {{kDLInt, 1, 1}, {kDLInt, 2, 1}, {kDLUInt, 2, 1}};
  for (int i = 0; i < 3 && i < y.size(0); ++i) {
    tvm::ffi::Tensor t = Temporary(16, dtypes[i], x.device());
    std::memset(t.data_ptr(), 0xff, 16 * dtypes[i].bits / 8);
    out[i] = static_cast<float>(t.size(0));
  }
}

namespace {

int scope_allocations = 0;

// A framework's allocator: plain heap tensors, counted.
int FrameworkAllocator(DLTensor* prototype, DLManagedTensorVersioned** out, void*,
                       void (*)(void*, const char*, const char*)) {
  ++scope_allocations;
  auto* managed = new DLManagedTensorVersioned{};
  managed->dl_tensor = *prototype;
  managed->dl_tensor.shape = new int64_t[prototype->ndim > 0 ? prototype->ndim : 1];
  std::copy(prototype->shape, prototype->shape + prototype->ndim, managed->dl_tensor.shape);
  managed->dl_tensor.strides = nullptr;
  managed->dl_tensor.byte_offset = 0;
  managed->dl_tensor.data = std::malloc(tvm::ffi::GetDataSize(*prototype) + 1);
  managed->deleter = [](DLManagedTensorVersioned* self) {
    std::free(self->dl_tensor.data);
    delete[] self->dl_tensor.shape;
    delete self;
  };
  *out = managed;
  return 0;
}

}  // namespace

// Runs fn() inside a "set an allocator, call, restore the previous one" scope, what tvm-ffi's
// calling convention does with a framework's allocator; returns how many requests the scope's
// allocator served, one of them made here after fn.
int64_t call_in_allocator_scope(tvm::ffi::Function fn) {
  DLPackManagedTensorAllocator previous = nullptr;
  TVM_FFI_CHECK_SAFE_CALL(
      TVMFFIEnvSetDLPackManagedTensorAllocator(&FrameworkAllocator, 0, &previous));
  const int before = scope_allocations;
  fn();
  { tvm::ffi::Tensor own = Temporary(4, kF32, DLDevice{kDLCPU, 0}); }
  TVM_FFI_CHECK_SAFE_CALL(TVMFFIEnvSetDLPackManagedTensorAllocator(previous, 0, nullptr));
  return scope_allocations - before;
}

// Allocates a tensor outside any bridged call, from whatever allocator is in effect.
void allocate_outside_calls() { Temporary(4, kF32, DLDevice{kDLCPU, 0}); }
