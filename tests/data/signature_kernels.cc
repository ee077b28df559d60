/*!
 * \file signature_kernels.cc
 * \brief Kernels for tests/test_signature_checks.py: typed signatures whose tvm-ffi type metadata
 *        ffi_function checks calls against. The test builds this file with and without
 *        -DTVM_FFI_DLL_EXPORT_INCLUDE_METADATA=1; with -DSIG_REGISTER_GLOBALS=1 it also registers
 *        one reflection global function, whose schema tvm-ffi always records.
 */
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/map.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/optional.h>
#include <tvm/ffi/reflection/registry.h>
#include <tvm/ffi/string.h>

#include <cstdint>

using tvm::ffi::Array;
using tvm::ffi::Map;
using tvm::ffi::Optional;
using tvm::ffi::String;
using tvm::ffi::Tensor;
using tvm::ffi::TensorView;

/*! \brief out = a * x + y, over float32 vectors. */
void sig_axpy(TensorView x, TensorView y, TensorView out, double a) {
  const float* xp = static_cast<const float*>(x.data_ptr());
  const float* yp = static_cast<const float*>(y.data_ptr());
  float* op = static_cast<float*>(out.data_ptr());
  for (int64_t i = 0; i < x.size(0); ++i) op[i] = static_cast<float>(a) * xp[i] + yp[i];
}

/*!
 * \brief One parameter of every kind the check knows; writes what it received into out (float64,
 *        7 elements), so a test sees each value arrive: maybe[0] or -1 when absent, n, f, b, the
 *        string's length, the array's sum, m["k"].
 */
void sig_kinds(TensorView out, Optional<TensorView> maybe, int64_t n, double f, bool b, String s,
               Array<int64_t> arr, Map<String, int64_t> m) {
  double* op = static_cast<double*>(out.data_ptr());
  op[0] = maybe.has_value() ? static_cast<const double*>(maybe.value().data_ptr())[0] : -1.0;
  op[1] = static_cast<double>(n);
  op[2] = f;
  op[3] = b ? 1.0 : 0.0;
  op[4] = static_cast<double>(s.size());
  int64_t sum = 0;
  for (int64_t v : arr) sum += v;
  op[5] = static_cast<double>(sum);
  op[6] = static_cast<double>(m.at("k"));
}

/*! \brief out[0] = x[0] + 1, through an owned tensor parameter (needs pass_owned_tensor). */
void sig_owned(Tensor x, TensorView out) {
  static_cast<float*>(out.data_ptr())[0] = static_cast<const float*>(x.data_ptr())[0] + 1.0f;
}

#if SIG_REGISTER_GLOBALS
TVM_FFI_STATIC_INIT_BLOCK() {
  tvm::ffi::reflection::GlobalDef().def("jax_tvm_ffi_test.signature.axpy", sig_axpy);
}
#endif
