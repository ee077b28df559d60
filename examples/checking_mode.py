"""Checking mode: a kernel's memory bugs fail the call by name instead of corrupting the heap.

Registering with ``check=...`` (or setting ``JAX_TVM_FFI_CHECK`` before registration) runs each
CPU call on guarded copies of its buffers. Each buggy kernel below fails with a JaxRuntimeError
that names the target, the buffer and the offset; XLA's memory is never touched.

Run: python examples/checking_mode.py   (prints each failure, then "checking_mode: OK")
"""

import jax
import jax.numpy as jnp
import tvm_ffi

import jax_tvm_ffi

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>

#include <cmath>

using tvm::ffi::TensorView;

// Copies all of x into y, trusting y to be as long: a write past a shorter y.
void copy_all(TensorView x, TensorView y) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i];
}

// y = x + 1, plus an off-by-one write before y.
void write_before(TensorView x, TensorView y) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < y.numel(); ++i) out[i] = in[i] + 1.0f;
  out[-1] = 0.0f;
}

// y = x + 1, computed in x's memory: writes its input.
void add_one_in_place(TensorView x, TensorView y) {
  float* in = static_cast<float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = (in[i] += 1.0f);
}

// y = log(x): NaN where x < 0.
void log_f32(TensorView x, TensorView y) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = std::log(in[i]);
}
"""

FUNCTIONS = ["copy_all", "write_before", "add_one_in_place", "log_f32"]


def call(name: str, x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(shape, x.dtype))(x)


def expect_failure(name: str, x: jax.Array, shape: tuple[int, ...], text: str) -> None:
    try:
        jax.block_until_ready(call(name, x, shape))
    except jax.errors.JaxRuntimeError as error:
        message = str(error)
        assert text in message, message
        print(message.splitlines()[0])
    else:
        raise AssertionError(f"{name} did not fail")


def main() -> None:
    mod = tvm_ffi.cpp.load_inline(
        name="checking_mode_example", cpp_sources=SOURCE, functions=FUNCTIONS
    )
    x = jnp.arange(1.0, 9.0, dtype=jnp.float32)

    # True: guard bytes around every buffer, and inputs verified unchanged.
    jax_tvm_ffi.register_ffi_target("check.copy_all", mod.copy_all, check=True)
    expect_failure("check.copy_all", x, (4,), "past the end of output 0 (f32[4], 16 bytes)")

    jax_tvm_ffi.register_ffi_target("check.write_before", mod.write_before, check="guards")
    expect_failure("check.write_before", x, (8,), "1 byte before its start")

    jax_tvm_ffi.register_ffi_target("check.in_place", mod.add_one_in_place, check="inputs")
    expect_failure("check.in_place", x, (8,), "the function modified input 0")

    # "nan" fails the call on a NaN or infinity in a floating-point output; "trace" prints one
    # line per call to stderr (target, dtypes and shapes, stream, time).
    jax_tvm_ffi.register_ffi_target("check.log", mod.log_f32, check="nan,trace")
    expect_failure("check.log", x - 3, (8,), "holds NaN at index [0]")

    print("checking_mode: OK")


if __name__ == "__main__":
    main()
