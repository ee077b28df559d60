"""Scratch memory: a kernel allocates temporaries with TVM FFI's environment allocator, and the
bridge serves them from XLA's memory for the call (a per-call arena on CPU, XLA's device
allocator on GPU), gives them back when the call ends, and reports how much each target used.

Run: python examples/scratch_memory.py
"""

import jax
import jax.numpy as jnp
import numpy as np
import tvm_ffi

import jax_tvm_ffi

SOFTMAX_SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>

#include <cmath>

// Row-wise softmax of a float32 matrix, through two temporaries: the row maxima and the
// exponentials. Neither is an output, so the kernel asks the environment allocator for them.
void softmax_rows(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  DLDataType f32{kDLFloat, 32, 1};
  TVM_FFI_ICHECK(x.ndim() == 2 && x.dtype() == f32) << "x must be a float32 matrix";
  const int64_t rows = x.size(0), cols = x.size(1);
  tvm::ffi::Tensor row_max =
      tvm::ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, {rows}, f32, x.device());
  tvm::ffi::Tensor exps =
      tvm::ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, {rows, cols}, f32, x.device());
  const float* in = static_cast<const float*>(x.data_ptr());
  float* m = static_cast<float*>(row_max.data_ptr());
  float* e = static_cast<float*>(exps.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t r = 0; r < rows; ++r) {
    m[r] = in[r * cols];
    for (int64_t c = 1; c < cols; ++c) m[r] = std::fmax(m[r], in[r * cols + c]);
  }
  for (int64_t r = 0; r < rows; ++r) {
    float sum = 0;
    for (int64_t c = 0; c < cols; ++c) sum += e[r * cols + c] = std::exp(in[r * cols + c] - m[r]);
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = e[r * cols + c] / sum;
  }
}
"""


def main() -> None:
    mod = tvm_ffi.cpp.load_inline(
        name="scratch_example", cpp_sources=SOFTMAX_SOURCE, functions=["softmax_rows"]
    )
    jax_tvm_ffi.register_ffi_target("example.softmax_rows", mod.softmax_rows, platform="cpu")

    @jax.jit
    def softmax(x):
        return jax.ffi.ffi_call("example.softmax_rows", jax.ShapeDtypeStruct(x.shape, x.dtype))(x)

    x = jax.random.normal(jax.random.key(0), (4, 1000), jnp.float32)
    for _ in range(10):
        y = softmax(x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(jax.nn.softmax(x, axis=1)), rtol=1e-5)

    usage = jax_tvm_ffi.scratch_usage("example.softmax_rows")
    print(usage)
    assert usage.last_call_allocations == 2
    assert usage.last_call_peak_bytes == 4 * 4 + 4 * 1000 * 4
    assert usage.total_allocations == 20
    assert usage.outstanding_allocations == 0
    print("scratch_memory: OK")


if __name__ == "__main__":
    main()
