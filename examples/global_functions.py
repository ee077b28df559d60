"""Global functions: registered in TVM FFI's global registry, then in JAX by their name.

A kernel library can register its functions when it is loaded, in a TVM_FFI_STATIC_INIT_BLOCK
with tvm::ffi::reflection::GlobalDef; Python code can do the same with
tvm_ffi.register_global_func. Either way the bridge takes the global name in place of a function:
register_ffi_target(target, "mylib.scale") or ffi_function("mylib.scale", ...). This example
shows
  (a) C++ functions registered in a static registration block, registered in JAX by name;
  (b) a Python function registered with tvm_ffi.register_global_func, registered by name;
  (c) the one-line jax_tvm_ffi.ffi_function given a global name;
  (d) the error for a name no global function has.

Run: python examples/global_functions.py   (last line: "global_functions: OK")
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import tvm_ffi

import jax_tvm_ffi

# No function is exported from the module (functions=None below): the static block registers
# them globally, under names of the library's choosing, when the library is loaded.
SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/reflection/registry.h>

namespace {

using tvm::ffi::TensorView;

void CheckF32(const char* func, TensorView t) {
  if (t.dtype() != DLDataType{kDLFloat, 32, 1}) {
    TVM_FFI_THROW(ValueError) << func << ": expected float32, got " << t.dtype();
  }
}

// y = x * factor
void Scale(TensorView x, TensorView y, double factor) {
  CheckF32("mylib.scale", x);
  CheckF32("mylib.scale", y);
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = static_cast<float>(in[i] * factor);
}

// z = x + y
void Add(TensorView x, TensorView y, TensorView z) {
  CheckF32("mylib.add", x);
  CheckF32("mylib.add", y);
  CheckF32("mylib.add", z);
  const float* a = static_cast<const float*>(x.data_ptr());
  const float* b = static_cast<const float*>(y.data_ptr());
  float* out = static_cast<float*>(z.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = a[i] + b[i];
}

}  // namespace

TVM_FFI_STATIC_INIT_BLOCK() {
  namespace refl = tvm::ffi::reflection;
  refl::GlobalDef()
      .def("mylib.scale", Scale, "y = x * factor (float32)")
      .def("mylib.add", Add, "z = x + y (float32)");
}
"""


def main() -> None:
    # (a) Loading the library runs its static block, which registers mylib.scale and mylib.add.
    tvm_ffi.cpp.load_inline(name="jax_tvm_ffi_example_global_functions", cpp_sources=SOURCE)
    assert tvm_ffi.get_global_func("mylib.scale", allow_missing=True) is not None
    jax_tvm_ffi.register_ffi_target("mylib.scale", "mylib.scale", ["args", "rets", "attrs.factor"])
    jax_tvm_ffi.register_ffi_target("mylib.add", "mylib.add")

    @jax.jit
    def scaled_sum(x: jax.Array, y: jax.Array) -> jax.Array:
        like_x = jax.ShapeDtypeStruct(x.shape, x.dtype)
        total = jax.ffi.ffi_call("mylib.add", like_x)(x, y)
        return jax.ffi.ffi_call("mylib.scale", like_x)(total, factor=np.float32(0.5))

    x = jnp.array([1.0, 2.0, 3.0], jnp.float32)
    y = jnp.array([10.0, 20.0, 30.0], jnp.float32)
    z = scaled_sum(x, y)
    print("(a) static block, by name:", z.tolist())
    np.testing.assert_array_equal(z, (np.asarray(x) + np.asarray(y)) * 0.5)

    # (b) A Python function in the global registry. The bridge sees that Python is behind the
    # name and passes owned tvm_ffi.Tensors, which NumPy can view (a borrowed view cannot be
    # exported to DLPack).
    def py_square(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) ** 2

    tvm_ffi.register_global_func("mylib.py_square", py_square)
    jax_tvm_ffi.register_ffi_target("mylib.py_square", "mylib.py_square")
    square = jax.jit(
        lambda v: jax.ffi.ffi_call("mylib.py_square", jax.ShapeDtypeStruct(v.shape, v.dtype))(v)
    )
    z = square(x)
    print("(b) Python global, by name:", z.tolist())
    np.testing.assert_array_equal(z, np.asarray(x) ** 2)

    # (c) ffi_function takes a global name too: it registers the target and shapes the result.
    scale = jax_tvm_ffi.ffi_function(
        "mylib.scale", lambda x, factor: x, arg_spec=["args", "rets", "attrs.factor"]
    )
    z = jax.jit(lambda v: scale(v, factor=-2.0))(x)
    print("(c) ffi_function('mylib.scale'):", z.tolist(), "as target", scale.target_name)
    np.testing.assert_array_equal(z, np.asarray(x) * -2)

    # (d) A name no global function has is refused when registering, not at the call.
    try:
        jax_tvm_ffi.register_ffi_target("mylib.missing", "mylib.no_such_function")
    except ValueError as error:
        print("(d) unknown name:", error)
        assert "mylib.missing" in str(error) and "mylib.no_such_function" in str(error)
    else:
        raise AssertionError("an unknown global name was accepted")
    print("global_functions: OK")


if __name__ == "__main__":
    main()
