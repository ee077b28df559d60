// C++ kernels the Python tests register as XLA FFI targets. Compiled once per test session
// with tvm_ffi.cpp.load_inline (see tests/conftest.py).
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/reflection/registry.h>
#include <tvm/ffi/string.h>

#include <cstdint>
#include <cstring>
#include <string>

using tvm::ffi::TensorView;

namespace {

void CheckDType(const TensorView& x, DLDataTypeCode code, int bits, const char* what) {
  TVM_FFI_ICHECK(x.dtype().code == code && x.dtype().bits == bits && x.dtype().lanes == 1)
      << what << " must have dtype code " << static_cast<int>(code) << " bits " << bits;
}

void CheckSameShape(const TensorView& x, const TensorView& y) {
  TVM_FFI_ICHECK_EQ(x.ndim(), y.ndim());
  for (int i = 0; i < x.ndim(); ++i) TVM_FFI_ICHECK_EQ(x.size(i), y.size(i));
}

}  // namespace

// y = x + 1, float32, any shape.
void add_one_f32(TensorView x, TensorView y) {
  CheckDType(x, kDLFloat, 32, "x");
  CheckDType(y, kDLFloat, 32, "y");
  CheckSameShape(x, y);
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] + 1.0f;
}

// y = x * 2, float32, any shape.
void times_two_f32(TensorView x, TensorView y) {
  CheckDType(x, kDLFloat, 32, "x");
  CheckSameShape(x, y);
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] * 2.0f;
}

// Copies the bytes of x into y; both must describe the same number of bytes and the same dtype.
void copy_bytes(TensorView x, TensorView y) {
  TVM_FFI_ICHECK(x.dtype() == y.dtype()) << "x and y must have the same dtype";
  const size_t bytes = tvm::ffi::GetDataSize(x);
  TVM_FFI_ICHECK_EQ(bytes, tvm::ffi::GetDataSize(y));
  if (bytes != 0) std::memcpy(y.data_ptr(), x.data_ptr(), bytes);
}

// Describes x in out (int64, at least 8 + 2 * ndim entries):
// [code, bits, lanes, device_type, device_id, ndim, data_ptr, byte_offset, shape..., strides...].
void describe(TensorView x, TensorView out) {
  CheckDType(out, kDLInt, 64, "out");
  TVM_FFI_ICHECK_EQ(out.ndim(), 1);
  TVM_FFI_ICHECK_GE(out.size(0), 8 + 2 * x.ndim()) << "out is too short";
  int64_t* o = static_cast<int64_t*>(out.data_ptr());
  for (int64_t i = 0; i < out.size(0); ++i) o[i] = -1;
  o[0] = x.dtype().code;
  o[1] = x.dtype().bits;
  o[2] = x.dtype().lanes;
  o[3] = x.device().device_type;
  o[4] = x.device().device_id;
  o[5] = x.ndim();
  o[6] = static_cast<int64_t>(reinterpret_cast<intptr_t>(x.data_ptr()));
  o[7] = static_cast<int64_t>(x.byte_offset());
  for (int i = 0; i < x.ndim(); ++i) {
    o[8 + i] = x.size(i);
    o[8 + x.ndim() + i] = x.stride(i);
  }
}

// y = (negate ? -1 : 1) * (x * scale + offset), float32; mode must be "affine".
void affine_attrs(TensorView x, TensorView y, double scale, int64_t offset, bool negate,
                  tvm::ffi::String mode) {
  TVM_FFI_ICHECK(std::string(mode) == "affine") << "unknown mode '" << std::string(mode) << "'";
  CheckDType(x, kDLFloat, 32, "x");
  CheckSameShape(x, y);
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  const double sign = negate ? -1.0 : 1.0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    out[i] = static_cast<float>(sign * (in[i] * scale + static_cast<double>(offset)));
  }
}

// Writes [stream, device_id] into out (int64, 2 entries); x is only a shape carrier.
void placement(int64_t device_id, TensorView, int64_t stream, TensorView out) {
  CheckDType(out, kDLInt, 64, "out");
  TVM_FFI_ICHECK_EQ(out.numel(), 2);
  int64_t* o = static_cast<int64_t*>(out.data_ptr());
  o[0] = stream;
  o[1] = device_id;
}

// out = alpha * a + b, float32, with the attribute between the tensors.
void axpy_interleaved(TensorView out, double alpha, TensorView a, TensorView b) {
  CheckDType(a, kDLFloat, 32, "a");
  CheckSameShape(a, b);
  CheckSameShape(a, out);
  const float* pa = static_cast<const float*>(a.data_ptr());
  const float* pb = static_cast<const float*>(b.data_ptr());
  float* po = static_cast<float*>(out.data_ptr());
  for (int64_t i = 0; i < a.numel(); ++i) po[i] = static_cast<float>(alpha * pa[i] + pb[i]);
}

// s = sum(x), d = x - 1: two float32 results.
void sum_and_dec(TensorView x, TensorView s, TensorView d) {
  CheckDType(x, kDLFloat, 32, "x");
  TVM_FFI_ICHECK_EQ(s.numel(), 1);
  CheckSameShape(x, d);
  const float* in = static_cast<const float*>(x.data_ptr());
  float total = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    total += in[i];
    static_cast<float*>(d.data_ptr())[i] = in[i] - 1.0f;
  }
  *static_cast<float*>(s.data_ptr()) = total;
}

// Writes the address of out's data into out[0] (int64): shows that results are XLA's buffers.
void write_address(TensorView out) {
  CheckDType(out, kDLInt, 64, "out");
  TVM_FFI_ICHECK_GE(out.numel(), 1);
  *static_cast<int64_t*>(out.data_ptr()) =
      static_cast<int64_t>(reinterpret_cast<intptr_t>(out.data_ptr()));
}

// out[0] = sum(values): an array attribute decoded on every call.
void sum_array_attr(TensorView out, tvm::ffi::Array<int64_t> values) {
  CheckDType(out, kDLInt, 64, "out");
  int64_t total = 0;
  for (int64_t value : values) total += value;
  *static_cast<int64_t*>(out.data_ptr()) = total;
}

void throw_value_error(TensorView x, TensorView) {
  TVM_FFI_THROW(ValueError) << "kernel rejected input of rank " << x.ndim();
}

void icheck_fail(TensorView x, TensorView) {
  TVM_FFI_ICHECK_EQ(x.ndim(), 99) << "x must be 99-dimensional";
}

int64_t returns_int(TensorView, TensorView) { return 42; }

// A C++ function forwarding every call to `inner` (a Python callable, say): what a C++ library
// that wraps a user's callback hands out. Nothing about the wrapper shows what it forwards to.
// A global function rather than a module function, so that tests reach it through
// tvm_ffi.get_global_func once this module is loaded.
TVM_FFI_STATIC_INIT_BLOCK() {
  tvm::ffi::reflection::GlobalDef().def(
      "jax_tvm_ffi_test.forward_to", [](tvm::ffi::Function inner) {
        return tvm::ffi::Function::FromPacked(
            [inner](tvm::ffi::PackedArgs args, tvm::ffi::Any* result) {
              inner.CallPacked(args, result);
            });
      });
}
