"""Re-entrancy: a target's function runs JAX computations that call bridged targets."""

from __future__ import annotations

import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tvm_ffi

X = jnp.array([1.0, 2.0, 3.0], jnp.float32)


def ffi(name: str, x: jax.Array, **attrs: Any) -> jax.Array:
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype))(x, **attrs)


def test_python_target_runs_a_jitted_cpp_target(kernels: tvm_ffi.Module, register) -> None:
    inner = register(kernels.times_two_f32, label="inner")
    inner_program = jax.jit(lambda v: ffi(inner, v) + 1)

    def outer(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        result = np.asarray(inner_program(jnp.asarray(np.from_dlpack(x).copy())))
        np.from_dlpack(y)[...] = result * 10

    name = register(outer, pass_owned_tensor=True, label="outer")
    out = jax.jit(lambda v: ffi(name, v) - 5)(X)
    np.testing.assert_array_equal(out, (X * 2 + 1) * 10 - 5)


def test_three_levels_deep(kernels: tvm_ffi.Module, register) -> None:
    innermost = register(kernels.add_one_f32, label="innermost")

    def middle_fn(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        value = jnp.asarray(np.from_dlpack(x).copy())
        np.from_dlpack(y)[...] = np.asarray(jax.jit(lambda v: ffi(innermost, v) * 3)(value))

    middle = register(middle_fn, pass_owned_tensor=True, label="middle")

    def top_fn(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        value = jnp.asarray(np.from_dlpack(x).copy())
        np.from_dlpack(y)[...] = np.asarray(ffi(middle, value)) + 100

    top = register(top_fn, pass_owned_tensor=True, label="top")
    np.testing.assert_array_equal(jax.jit(lambda v: ffi(top, v))(X), (X + 1) * 3 + 100)


def test_target_reenters_itself(register) -> None:
    # The same registration is running several times on one thread's stack at once.
    names: list[str] = []

    def countdown(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor, depth: int) -> None:
        value = np.from_dlpack(x).copy()
        if depth > 0:
            value = np.asarray(ffi(names[0], jnp.asarray(value + 1), depth=np.int64(depth - 1)))
        np.from_dlpack(y)[...] = value

    names.append(register(countdown, ["args", "rets", "attrs.depth"], pass_owned_tensor=True))
    out = jax.jit(lambda v: ffi(names[0], v, depth=np.int64(4)))(X)
    np.testing.assert_array_equal(out, X + 4)


def test_error_in_an_inner_call_propagates_through_the_outer_one(
    kernels: tvm_ffi.Module, register
) -> None:
    failing = register(kernels.throw_value_error, label="failing")

    def outer(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        np.asarray(ffi(failing, jnp.asarray(np.from_dlpack(x).copy())))

    name = register(outer, pass_owned_tensor=True, label="outer")
    try:
        np.asarray(ffi(name, X))
    except jax.errors.JaxRuntimeError as error:
        message = str(error)
    else:
        raise AssertionError("the outer call did not fail")
    assert name in message
    assert "kernel rejected input" in message
    assert failing in message


def test_concurrent_calls_from_python_threads(kernels: tvm_ffi.Module, register) -> None:
    cpp = register(kernels.add_one_f32, label="cpp")

    def py_fn(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor, factor: float) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) * factor

    python = register(py_fn, ["args", "rets", "attrs.factor"], pass_owned_tensor=True, label="py")
    program = jax.jit(lambda v, f: ffi(python, ffi(cpp, v), factor=f), static_argnums=1)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for i in range(20):
                x = jnp.full((64,), thread * 100 + i, jnp.float32)
                factor = float(thread % 3 + 1)
                expected = (np.asarray(x) + 1) * factor
                np.testing.assert_array_equal(program(x, factor), expected)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
