"""Errors raised by the called function become JAX errors naming kind, message and target."""

from __future__ import annotations

import functools
import gc
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi

X = jnp.array([1.0, 2.0, 3.0], jnp.float32)


class UnregisteredError(Exception):
    pass


@tvm_ffi.register_error
class RegisteredKernelError(RuntimeError):
    pass


def call(name: str, x: jax.Array = X, **attrs: Any) -> jax.Array:
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype))(x, **attrs)


def error_message(name: str, jit: bool = False) -> str:
    run = jax.jit(lambda x: call(name, x)) if jit else (lambda x: call(name, x))
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        np.asarray(run(X))
    return str(raised.value)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_cpp_value_error(kernels: tvm_ffi.Module, register, jit: bool) -> None:
    name = register(kernels.throw_value_error)
    message = error_message(name, jit)
    assert "ValueError" in message
    assert "kernel rejected input of rank 1" in message
    assert name in message


def test_cpp_check_failure(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.icheck_fail)
    message = error_message(name)
    assert "InternalError" in message
    assert "Check failed" in message
    assert "x must be 99-dimensional" in message
    assert name in message


def raise_value_error(x: Any, y: Any) -> None:
    raise ValueError("bad value 17")


def raise_key_error(x: Any, y: Any) -> None:
    raise KeyError("missing-key")


def raise_registered(x: Any, y: Any) -> None:
    raise RegisteredKernelError("registered boom")


def raise_unregistered(x: Any, y: Any) -> None:
    raise UnregisteredError("unregistered boom")


def raise_zero_division(x: Any, y: Any) -> None:
    raise ZeroDivisionError("division by zero in kernel")


PYTHON_ERRORS = [
    pytest.param(raise_value_error, "ValueError", "bad value 17", id="ValueError"),
    pytest.param(raise_key_error, "KeyError", "missing-key", id="KeyError"),
    pytest.param(raise_registered, "RegisteredKernelError", "registered boom", id="registered"),
    # tvm_ffi reports exception classes not registered with it as RuntimeError; the README
    # promises the exception's type name all the same.
    pytest.param(raise_unregistered, "UnregisteredError", "unregistered boom", id="unregistered"),
    pytest.param(
        raise_zero_division, "ZeroDivisionError", "division by zero in kernel", id="builtin"
    ),
]


@pytest.mark.parametrize(("function", "kind", "text"), PYTHON_ERRORS)
def test_python_exception(register, function: Callable[..., None], kind: str, text: str) -> None:
    name = register(function)
    message = error_message(name, jit=True)
    assert kind in message
    assert text in message
    assert name in message


STATUS_CODES = [
    pytest.param(raise_value_error, "INVALID_ARGUMENT", id="ValueError"),
    pytest.param(raise_key_error, "OUT_OF_RANGE", id="KeyError"),
    pytest.param(raise_registered, "UNKNOWN", id="custom"),
]


@pytest.mark.parametrize(("function", "code"), STATUS_CODES)
def test_error_kind_maps_to_an_xla_status_code(
    register, function: Callable[..., None], code: str
) -> None:
    assert error_message(register(function)).startswith(f"{code}: ")


def test_cpp_check_failure_is_an_internal_error(kernels: tvm_ffi.Module, register) -> None:
    assert error_message(register(kernels.icheck_fail)).startswith("INTERNAL: ")


def test_process_survives_errors_and_later_calls_work(kernels: tvm_ffi.Module, register) -> None:
    failing = register(kernels.throw_value_error)
    python_failing = register(raise_key_error, pass_owned_tensor=True)
    working = register(kernels.add_one_f32)
    for _ in range(3):
        assert "ValueError" in error_message(failing)
        assert "KeyError" in error_message(python_failing)
        np.testing.assert_array_equal(call(working), X + 1)


def test_error_inside_a_larger_computation(kernels: tvm_ffi.Module, register) -> None:
    failing = register(kernels.throw_value_error)
    working = register(kernels.add_one_f32)

    @jax.jit
    def program(x: jax.Array) -> jax.Array:
        return call(failing, call(working, x) * 2)

    with pytest.raises(jax.errors.JaxRuntimeError, match="kernel rejected input"):
        np.asarray(program(X))
    np.testing.assert_array_equal(jax.jit(lambda x: call(working, x))(X), X + 1)


def test_cpp_function_returning_a_value(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.returns_int)
    message = error_message(name)
    assert "returned a value" in message
    assert name in message


@pytest.mark.parametrize("value", [5, "text", [1, 2], 0.0, False], ids=repr)
def test_python_function_returning_a_value(register, value: Any) -> None:
    def returns(x: Any, y: Any) -> Any:
        return value

    name = register(returns, pass_owned_tensor=True)
    message = error_message(name)
    assert "returned a value" in message
    assert name in message


def test_python_function_returning_none_explicitly_is_fine(register) -> None:
    def returns_none(x: Any, y: Any) -> None:
        np.from_dlpack(y)[...] = 1
        return None

    name = register(returns_none, pass_owned_tensor=True)
    np.testing.assert_array_equal(call(name), np.ones(3, np.float32))


def test_wrong_argument_count_for_cpp_kernel(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.add_one_f32, ["args", "rets", "ctx.stream"])
    message = error_message(name)
    assert name in message
    assert "TypeError" in message and "arguments" in message


def test_wrong_dtype_for_cpp_kernel(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.add_one_f32)
    x = jnp.arange(3, dtype=jnp.int32)
    with pytest.raises(jax.errors.JaxRuntimeError, match="must have dtype code") as raised:
        call(name, x)
    assert name in str(raised.value)


def test_python_exception_during_owned_call_releases_tensors(register) -> None:
    kept: list[Any] = []

    def keep_then_raise(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        kept.append(np.from_dlpack(x))
        raise ValueError("raised after keeping")

    name = register(keep_then_raise, pass_owned_tensor=True)
    message = error_message(name)
    assert "raised after keeping" in message
    np.testing.assert_array_equal(kept[0], X)


def add_one_lazily(x: Any, y: Any) -> Any:
    np.from_dlpack(y)[...] = np.from_dlpack(x) + 1
    yield


async def add_one_async(x: Any, y: Any) -> None:
    np.from_dlpack(y)[...] = np.from_dlpack(x) + 1


async def add_one_async_lazily(x: Any, y: Any) -> Any:
    np.from_dlpack(y)[...] = np.from_dlpack(x) + 1
    yield


class LazyCallable:
    def __call__(self, x: Any, y: Any) -> Any:
        yield


NOT_RUN_AT_REGISTRATION = [
    pytest.param(add_one_lazily, "a generator", id="generator"),
    pytest.param(add_one_async, "a coroutine", id="async_def"),
    pytest.param(add_one_async_lazily, "an asynchronous generator", id="async_generator"),
    pytest.param(LazyCallable(), "a generator", id="callable_object"),
    pytest.param(functools.partial(add_one_lazily), "a generator", id="partial"),
]


@pytest.mark.parametrize(("function", "made"), NOT_RUN_AT_REGISTRATION)
def test_generator_or_coroutine_function_is_refused_at_registration(
    unique_name: Callable[[str], str], function: Callable[..., Any], made: str
) -> None:
    name = unique_name("lazy")
    with pytest.raises(TypeError, match=f"register_ffi_target\\('{name}'\\).*{made}"):
        jax_tvm_ffi.register_ffi_target(name, function)


def forwards(function: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator hiding what it wraps from inspect, as many decorators do."""

    def call(*args: Any) -> Any:
        return function(*args)

    return call


NOT_RUN_AT_CALL = [
    pytest.param(add_one_lazily, "returned a generator", id="generator"),
    pytest.param(add_one_async, "returned a coroutine", id="async_def"),
    pytest.param(add_one_async_lazily, "returned an asynchronous generator", id="async_generator"),
]


@pytest.mark.parametrize(("function", "made"), NOT_RUN_AT_CALL)
def test_function_returning_a_generator_or_coroutine_fails_naming_it(
    register, function: Callable[..., Any], made: str
) -> None:
    name = register(forwards(function))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would be a warning.
        message = error_message(name)
        gc.collect()
    assert made in message
    assert name in message
    assert "kept a reference" not in message
    assert "returned a value" not in message


def test_function_returning_a_generator_keeps_no_tensor(register) -> None:
    made: list[Any] = []

    def make(x: Any, y: Any) -> Any:
        generator = add_one_lazily(x, y)
        made.append(weakref.ref(generator))
        return generator

    name = register(make)
    assert "returned a generator" in error_message(name)
    gc.collect()
    assert made[0]() is None


def raise_with_control_bytes(x: Any, y: Any) -> None:
    raise ValueError("before\0after \x1b[31mred\x1b[0m\ttab\nnext line")


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_control_bytes_in_messages_are_escaped_not_cut(register, jit: bool) -> None:
    name = register(raise_with_control_bytes)
    message = error_message(name, jit)
    assert "before\\x00after \\x1b[31mred\\x1b[0m\ttab\nnext line" in message
    assert name in message
