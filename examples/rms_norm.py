"""An RMS norm in C++, forward and backward, shared by the examples (not run on its own).

``module()`` JIT-compiles the kernels once (tvm_ffi caches the build on disk), ``shapes`` is the
``result_shape_dtypes`` function that ``jax_tvm_ffi.ffi_function`` needs for the forward kernel,
and ``reference`` is the same computation in pure JAX, to check the kernels against.
"""

import functools

import jax
import jax.numpy as jnp
import tvm_ffi

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>

#include <cmath>

using tvm::ffi::TensorView;

namespace {
int64_t RowLength(TensorView x) {
  TVM_FFI_ICHECK(x.dtype() == DLDataType({kDLFloat, 32, 1})) << "expected float32";
  TVM_FFI_ICHECK(x.ndim() >= 1 && x.size(x.ndim() - 1) > 0) << "expected non-empty rows";
  return x.size(x.ndim() - 1);
}
}  // namespace

// y = x / sqrt(mean(x^2) + eps) along the last axis; inv_rms[row] = 1 / sqrt(mean + eps).
void rms_norm_fwd(TensorView x, TensorView y, TensorView inv_rms, double eps) {
  const int64_t n = RowLength(x), rows = x.numel() / n;
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  float* r = static_cast<float*>(inv_rms.data_ptr());
  for (int64_t i = 0; i < rows; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += double(in[i * n + j]) * in[i * n + j];
    r[i] = static_cast<float>(1.0 / std::sqrt(sum / n + eps));
    for (int64_t j = 0; j < n; ++j) out[i * n + j] = in[i * n + j] * r[i];
  }
}

// Its vector-Jacobian product: dx = inv_rms * (g - y * mean(g * y)), where y = x * inv_rms.
void rms_norm_bwd(TensorView x, TensorView inv_rms, TensorView g, TensorView dx) {
  const int64_t n = RowLength(x), rows = x.numel() / n;
  const float* in = static_cast<const float*>(x.data_ptr());
  const float* r = static_cast<const float*>(inv_rms.data_ptr());
  const float* grad = static_cast<const float*>(g.data_ptr());
  float* out = static_cast<float*>(dx.data_ptr());
  for (int64_t i = 0; i < rows; ++i) {
    double dot = 0;
    for (int64_t j = 0; j < n; ++j) dot += double(grad[i * n + j]) * in[i * n + j] * r[i];
    const double mean = dot / n;
    for (int64_t j = 0; j < n; ++j) {
      out[i * n + j] = static_cast<float>(r[i] * (grad[i * n + j] - in[i * n + j] * r[i] * mean));
    }
  }
}
"""

# The kernels' argument order: inputs, outputs, then the attribute eps.
ARG_SPEC = ["args", "rets", "attrs.eps"]


@functools.cache
def module() -> tvm_ffi.Module:
    return tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_example_rms_norm",
        cpp_sources=SOURCE,
        functions=["rms_norm_fwd", "rms_norm_bwd"],
    )


def shapes(x: jax.ShapeDtypeStruct, *, eps: float):
    """rms_norm_fwd's results: y, shaped like x, and one inverse RMS per row."""
    return x, jax.ShapeDtypeStruct(x.shape[:-1], x.dtype)


def reference(x: jax.Array, eps: float) -> jax.Array:
    return x / jnp.sqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps)
