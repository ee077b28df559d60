"""Quick start: a C++ kernel built with tvm_ffi, called from jax.jit through jax_tvm_ffi.

Run: python examples/run_example.py   (prints [2. 3. 4.])
"""

import jax
import jax.numpy as jnp
import tvm_ffi

import jax_tvm_ffi

ADD_ONE_SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>

void add_one_cpu(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  TVM_FFI_ICHECK(x.ndim() == 1) << "x must be a 1-D tensor";
  DLDataType f32{kDLFloat, 32, 1};
  TVM_FFI_ICHECK(x.dtype() == f32 && y.dtype() == f32) << "x and y must be float32";
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.size(0); ++i) out[i] = in[i] + 1;
}
"""


def main() -> None:
    mod = tvm_ffi.cpp.load_inline(
        name="example", cpp_sources=ADD_ONE_SOURCE, functions=["add_one_cpu"]
    )
    jax_tvm_ffi.register_ffi_target("example.add_one_cpu", mod.add_one_cpu, platform="cpu")

    @jax.jit
    def add_one(x):
        return jax.ffi.ffi_call(
            "example.add_one_cpu",
            jax.ShapeDtypeStruct(x.shape, x.dtype),
            vmap_method="broadcast_all",
        )(x)

    print(add_one(jnp.array([1.0, 2.0, 3.0], dtype=jnp.float32)))


if __name__ == "__main__":
    main()
