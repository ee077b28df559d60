"""Python functions as targets: borrowed views, owned tensors, and tensors kept past the call."""

from __future__ import annotations

import gc
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi
from subprocess_util import assert_exited, run_python, run_python_many

X = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], jnp.float32)


def call(name: str, x: jax.Array = X, **attrs: Any) -> jax.Array:
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype))(x, **attrs)


@pytest.mark.parametrize("owned", [False, True], ids=["borrowed", "owned"])
def test_callback_reads_inputs_and_writes_outputs(register, owned: bool) -> None:
    def affine(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor, scale: float) -> None:
        assert isinstance(x, tvm_ffi.Tensor) and isinstance(y, tvm_ffi.Tensor)
        np.from_dlpack(y)[...] = np.from_dlpack(x) * scale + 1

    name = register(affine, ["args", "rets", "attrs.scale"], pass_owned_tensor=owned)
    out = jax.jit(lambda x: call(name, x, scale=np.float32(3)))(X)
    np.testing.assert_array_equal(out, X * 3 + 1)


def test_callback_with_several_inputs_and_outputs(register) -> None:
    def split(a: Any, b: Any, total: Any, difference: Any) -> None:
        np.from_dlpack(total)[...] = np.from_dlpack(a) + np.from_dlpack(b)
        np.from_dlpack(difference)[...] = np.from_dlpack(a) - np.from_dlpack(b)

    name = register(split, pass_owned_tensor=True)
    a = jnp.arange(4, dtype=jnp.int32)
    b = jnp.array([10, 20, 30, 40], jnp.int32)
    total, difference = jax.ffi.ffi_call(name, (jax.ShapeDtypeStruct(a.shape, a.dtype),) * 2)(a, b)
    np.testing.assert_array_equal(total, a + b)
    np.testing.assert_array_equal(difference, a - b)


@pytest.mark.parametrize("owned", [False, True], ids=["default", "owned"])
def test_python_callables_get_private_copies_on_cpu(register, owned: bool) -> None:
    # Python callables always get owned tensors (a borrowed view cannot be exported with
    # DLPack); on CPU these are backed by private copies of XLA's buffers.
    addresses: list[int] = []

    def record(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        array = np.from_dlpack(x)
        addresses.append(array.ctypes.data)
        np.testing.assert_array_equal(array, np.asarray(X))
        np.from_dlpack(y)[...] = array

    name = register(record, pass_owned_tensor=owned)
    out = call(name, X)
    np.testing.assert_array_equal(out, X)
    assert addresses[0] != X.unsafe_buffer_pointer()
    assert addresses[0] != out.unsafe_buffer_pointer()
    assert addresses[0] % 16 == 0


def test_keeping_a_result_fails_even_without_pass_owned_tensor(register) -> None:
    kept: list[Any] = []
    name = register(lambda x, y: kept.append(np.from_dlpack(y)))
    with pytest.raises(jax.errors.JaxRuntimeError, match="kept a reference"):
        np.asarray(call(name, X))
    assert kept[0].shape == X.shape


def test_writing_an_owned_input_does_not_change_the_jax_array(register) -> None:
    def scribble(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x)
        np.from_dlpack(x)[...] = -1

    x = jnp.array([1.0, 2.0], jnp.float32)
    name = register(scribble, pass_owned_tensor=True)
    np.testing.assert_array_equal(call(name, x), [1.0, 2.0])
    np.testing.assert_array_equal(x, [1.0, 2.0])


def kept_message(name: str, x: jax.Array) -> str:
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        np.asarray(call(name, x))
    return str(raised.value)


def test_keeping_an_input_array_is_allowed_on_cpu(register) -> None:
    # On CPU an input is a private copy equal to the input that nothing reads or writes after
    # the call, so keeping it is harmless (jitted JAX on it in a callback does so for a while).
    kept: list[np.ndarray] = []

    def keep(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        kept.append(np.from_dlpack(x))
        np.from_dlpack(y)[...] = 0

    name = register(keep, pass_owned_tensor=True)
    x = jnp.arange(1000, dtype=jnp.float32) * 0.5
    np.testing.assert_array_equal(call(name, x), np.zeros(1000, np.float32))

    # The kept array is safe to read, holds the input, and is not XLA's memory.
    array = kept[0]
    expected = np.arange(1000, dtype=np.float32) * 0.5
    np.testing.assert_array_equal(array, expected)
    assert array.ctypes.data != x.unsafe_buffer_pointer()
    del x
    gc.collect()
    churn = [jax.jit(lambda v: v * 3 - 7)(jnp.full((1000,), i, jnp.float32)) for i in range(20)]
    for out in churn:
        out.block_until_ready()
    np.testing.assert_array_equal(array, expected)


def test_keeping_the_input_tensor_object_is_allowed_on_cpu(register) -> None:
    kept: list[tvm_ffi.Tensor] = []

    def keep(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        kept.append(x)
        np.from_dlpack(y)[...] = np.from_dlpack(x) + 1

    name = register(keep, pass_owned_tensor=True)
    for _ in range(3):
        np.testing.assert_array_equal(call(name, X), X + 1)
    assert len(kept) == 3
    assert tuple(kept[0].shape) == X.shape
    np.testing.assert_array_equal(np.from_dlpack(kept[0]), X)


def test_keeping_a_result_names_the_result(register) -> None:
    kept: list[np.ndarray] = []

    def keep(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        out = np.from_dlpack(y)
        out[...] = np.from_dlpack(x) + 1
        kept.append(out)

    name = register(keep, pass_owned_tensor=True)
    message = kept_message(name, X)
    assert message.startswith("FAILED_PRECONDITION: ")
    assert name in message
    assert "kept a reference to owned tensor(s) result 0" in message
    assert "A result must not be kept" in message
    assert "argument 0" not in message
    np.testing.assert_array_equal(kept[0], X + 1)


def test_kept_tensor_error_has_the_published_packages_words(register) -> None:
    # Code written for the published jax-tvm-ffi 0.1.3 matches on its wording.
    kept: list[Any] = []
    name = register(lambda x, y: kept.append(y), pass_owned_tensor=True)
    with pytest.raises(jax.errors.JaxRuntimeError, match="Leaked temp owned tensors"):
        np.asarray(jax.jit(lambda x: call(name, x))(X))


def test_keeping_several_results_names_each(register) -> None:
    kept: list[Any] = []

    def keep(a: Any, b: Any, y: Any, z: Any) -> None:
        kept.extend([a, y, z])

    name = register(keep, pass_owned_tensor=True)
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        jax.ffi.ffi_call(name, (jax.ShapeDtypeStruct((2,), jnp.float32),) * 2)(X, X)
    message = str(raised.value)
    assert "owned tensor(s) result 0, result 1 after" in message
    assert "argument" not in message.split(name)[1]


def test_calls_work_again_after_a_kept_reference(register) -> None:
    kept: list[Any] = []

    def maybe_keep(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor, keep: bool) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) * 2
        if keep:
            kept.append(y)

    name = register(maybe_keep, ["args", "rets", "attrs.keep"], pass_owned_tensor=True)
    with pytest.raises(jax.errors.JaxRuntimeError, match="kept a reference"):
        np.asarray(call(name, X, keep=True))
    np.testing.assert_array_equal(call(name, X, keep=False), X * 2)
    kept.clear()
    np.testing.assert_array_equal(jax.jit(lambda x: call(name, x, keep=False))(X), X * 2)


def test_temporary_references_released_before_return_are_fine(register) -> None:
    def copy(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        views = [np.from_dlpack(x) for _ in range(5)]
        np.from_dlpack(y)[...] = sum(views)
        del views

    name = register(copy, pass_owned_tensor=True)
    np.testing.assert_array_equal(call(name, X), X * 5)


def add_one(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
    np.from_dlpack(y)[...] = np.from_dlpack(x) + 1


def forward_to(function: Any) -> tvm_ffi.Function:
    """A C++ function (tests/data/test_kernels.cc) that forwards its calls to ``function``."""
    return tvm_ffi.get_global_func("jax_tvm_ffi_test.forward_to")(function)


# Python functions behind a tvm_ffi.Function that registration recognises as Python: they get
# owned tensors without asking. Each runs in a subprocess, as a borrowed view would crash it.
RECOGNISED_AS_PYTHON = {
    "convert": "tvm_ffi.convert(add_one)",
    "through_a_cpp_container": "tvm_ffi.convert([tvm_ffi.convert(add_one)])[0]",
    "global_function": "tvm_ffi.register_global_func('callbacks.add_one', add_one)",
}
if hasattr(tvm_ffi, "convert_func"):  # not in apache-tvm-ffi 0.1.8
    RECOGNISED_AS_PYTHON["convert_func"] = "tvm_ffi.convert_func(add_one)"


def test_python_behind_a_tvm_function_is_recognised(kernels: tvm_ffi.Module) -> None:
    script = """
def add_one(x, y):
    np.from_dlpack(y)[...] = np.from_dlpack(x) + 1
jax_tvm_ffi.register_ffi_target("callbacks.wrapped", {function})
print("RESULT", np.asarray(jax.jit(lambda v: ffi("callbacks.wrapped", v))(X)).tolist())
"""
    finished = run_python_many(
        {case: script.format(function=code) for case, code in RECOGNISED_AS_PYTHON.items()}
    )
    for case, result in finished.items():
        assert_exited(result)
        assert "RESULT [2.0, 3.0, 4.0]" in result.stdout, case


def test_python_wrapped_in_cpp_works_with_pass_owned_tensor(
    kernels: tvm_ffi.Module, register
) -> None:
    # A C++ function that forwards to Python looks like any C++ function, so it would get
    # borrowed views, which Python cannot export with DLPack; the documented workaround is
    # pass_owned_tensor=True.
    owned: list[bool] = []

    def record(x: Any, y: Any) -> None:
        # isinstance: with apache-tvm installed, tensors arrive as its subclass of tvm_ffi.Tensor.
        owned.append(isinstance(x, tvm_ffi.Tensor))
        add_one(x, y)

    name = register(forward_to(record), pass_owned_tensor=True)
    np.testing.assert_array_equal(call(name), X + 1)
    np.testing.assert_array_equal(jax.jit(lambda x: call(name, x))(X), X + 1)
    assert owned == [True, True]


def test_python_wrapped_in_cpp_still_reports_kept_tensors(
    kernels: tvm_ffi.Module, register
) -> None:
    kept: list[Any] = []

    def keep(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) + 1
        kept.append(y)

    name = register(forward_to(keep), pass_owned_tensor=True)
    assert "kept a reference" in kept_message(name, X)
    np.testing.assert_array_equal(np.from_dlpack(kept[0]), X + 1)


def test_python_wrapped_in_cpp_and_again_in_python_is_guarded_at_exit(
    kernels: tvm_ffi.Module,
) -> None:
    # Registering a Python function that calls the wrapper makes the target Python-backed: it
    # gets owned tensors and the exit guard covers it, which pass_owned_tensor alone cannot give
    # (the guard only knows targets it can see are Python).
    result = run_python(
        """
def add_one(x, y):
    np.from_dlpack(y)[...] = np.from_dlpack(x) + 1
wrapped = tvm_ffi.get_global_func("jax_tvm_ffi_test.forward_to")(add_one)
jax_tvm_ffi.register_ffi_target("callbacks.outer", lambda *args: wrapped(*args))
print("RESULT", np.asarray(ffi("callbacks.outer")).tolist())
jax_tvm_ffi._registration.core().block_python_calls()
try:
    np.asarray(ffi("callbacks.outer"))
except Exception as error:  # JAX raises a CANCELLED error outside jit as ValueError
    print("BLOCKED", str(error).splitlines()[0])
"""
    )
    assert_exited(result)
    assert "RESULT [2.0, 3.0, 4.0]" in result.stdout
    assert "BLOCKED CANCELLED" in result.stdout, result.stdout
