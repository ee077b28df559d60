"""One line from a TVM FFI function to a JAX function: ``jax_tvm_ffi.ffi_function``.

Run: python examples/ffi_function.py   (last line: "ffi_function: OK")
"""

import jax
import jax.numpy as jnp
import numpy as np
import tvm_ffi

import jax_tvm_ffi

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>

using tvm::ffi::TensorView;

void CheckF32(TensorView t) {
  TVM_FFI_ICHECK(t.dtype() == DLDataType({kDLFloat, 32, 1})) << "expected float32";
}

// y = x + 1
void add_one(TensorView x, TensorView y) {
  CheckF32(x);
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] + 1;
}

// y = x * scale + shift, with scale and shift as attributes.
void scale_shift(TensorView x, TensorView y, double scale, double shift) {
  CheckF32(x);
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = static_cast<float>(in[i] * scale + shift);
}

// Row minimum and maximum of a matrix: two results.
void row_min_max(TensorView x, TensorView lo, TensorView hi) {
  CheckF32(x);
  TVM_FFI_ICHECK(x.ndim() == 2) << "x must be a matrix";
  const int64_t rows = x.size(0), cols = x.size(1);
  const float* in = static_cast<const float*>(x.data_ptr());
  for (int64_t i = 0; i < rows; ++i) {
    float a = in[i * cols], b = in[i * cols];
    for (int64_t j = 1; j < cols; ++j) {
      a = std::min(a, in[i * cols + j]);
      b = std::max(b, in[i * cols + j]);
    }
    static_cast<float*>(lo.data_ptr())[i] = a;
    static_cast<float*>(hi.data_ptr())[i] = b;
  }
}
"""


def main() -> None:
    mod = tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_example_ffi_function",
        cpp_sources=SOURCE,
        functions=["add_one", "scale_shift", "row_min_max"],
    )

    # The result is shaped like the input: result_shape_dtypes maps input shapes to results.
    add_one = jax_tvm_ffi.ffi_function(mod.add_one, lambda x: x)
    y = jax.jit(add_one)(jnp.array([1.0, 2.0, 3.0], jnp.float32))
    print("add_one:", y)
    np.testing.assert_array_equal(y, [2.0, 3.0, 4.0])

    # Attributes are keyword arguments; they must be static (not traced) values.
    scale_shift = jax_tvm_ffi.ffi_function(
        mod.scale_shift,
        lambda x, **attrs: x,
        arg_spec=["args", "rets", "attrs.scale", "attrs.shift"],
        vmap_method="broadcast_all",  # the kernel is elementwise: one call for a whole batch
    )
    x = jnp.arange(6, dtype=jnp.float32).reshape(2, 3)
    y = jax.jit(lambda x: scale_shift(x, scale=2.0, shift=0.5))(x)
    print("scale_shift:", y.tolist())
    np.testing.assert_array_equal(y, x * 2 + 0.5)

    # Several results: any pytree of jax.ShapeDtypeStruct; the call returns the same pytree.
    # The kernel gets the outputs in jax.tree.leaves order (note: dicts flatten by sorted key).
    row_min_max = jax_tvm_ffi.ffi_function(
        mod.row_min_max,
        lambda x: (jax.ShapeDtypeStruct(x.shape[:1], x.dtype),) * 2,
    )
    lo, hi = row_min_max(jnp.array([[3.0, -1.0, 2.0], [0.5, 4.0, 1.0]], jnp.float32))
    print("row_min_max:", lo.tolist(), hi.tolist())
    np.testing.assert_array_equal(lo, [-1.0, 0.5])
    np.testing.assert_array_equal(hi, [3.0, 4.0])

    # A Python function works the same way (it receives tvm_ffi.Tensors).
    def clip01(x, y):
        np.from_dlpack(y)[...] = np.clip(np.from_dlpack(x), 0, 1)

    clip = jax_tvm_ffi.ffi_function(clip01, jax.ShapeDtypeStruct((3,), jnp.float32))
    y = clip(jnp.array([-1.0, 0.25, 7.0], jnp.float32))
    print("clip01:", y)
    np.testing.assert_array_equal(y, [0.0, 0.25, 1.0])

    # The same function and options give the same target: nothing is registered twice.
    count = jax_tvm_ffi.registered_count()
    again = jax_tvm_ffi.ffi_function(mod.add_one, lambda x: x)
    again(jnp.zeros(2, jnp.float32))
    assert again.target_name == add_one.target_name
    assert jax_tvm_ffi.registered_count() == count
    print("targets:", add_one.target_name, scale_shift.target_name, row_min_max.target_name)
    print("ffi_function: OK")


if __name__ == "__main__":
    main()
