"""Threads: bridged targets called, and registered, from many threads at once.

- Eight Python threads each make 2,000 calls of jitted programs that use a C++ kernel and a
  Python callback; every result is checked.
- One jitted program holds several independent bridged calls, which XLA's CPU runtime may run at
  the same time on its own threads; every result is checked.
- One thread registers new targets, and re-registers one that others are calling, while other
  threads call existing targets: no error, no crash, every result right.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi


def ffi(name: str, x: jax.Array, **attrs: Any) -> jax.Array:
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype))(x, **attrs)


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """Runs work(0..count-1) on as many threads, started together; re-raises the first error."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as error:  # noqa: BLE001 - reported by the calling thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]


@pytest.fixture
def scale_target(register) -> str:
    def scale(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor, factor: int) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) * factor

    return register(scale, ["args", "rets", "attrs.factor"], label="py")


def test_eight_threads_two_thousand_calls_each(
    kernels: tvm_ffi.Module, register, scale_target: str
) -> None:
    add_one = register(kernels.add_one_f32, label="cpp")
    programs = [
        jax.jit(lambda x, f=factor: ffi(scale_target, ffi(add_one, x), factor=f))
        for factor in (2, 3)
    ]
    calls = 2_000

    def work(thread: int) -> None:
        program = programs[thread % 2]
        factor = 2 + thread % 2
        for i in range(calls):
            x = jnp.full((16,), thread * calls + i, jnp.float32)
            out = np.asarray(program(x))
            expected = np.float32((thread * calls + i + 1) * factor)
            if not (out == expected).all():
                raise AssertionError(f"thread {thread}, call {i}: {out[0]} != {expected}")

    run_threads(8, work)


def test_independent_calls_in_one_program(
    kernels: tvm_ffi.Module, register, scale_target: str
) -> None:
    add_one = register(kernels.add_one_f32, label="cpp")
    threads_seen: set[int] = set()

    def record(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        threads_seen.add(threading.get_ident())
        np.from_dlpack(y)[...] = np.from_dlpack(x) - 1

    minus_one = register(record, label="record")

    @jax.jit
    def program(xs: jax.Array) -> tuple[jax.Array, ...]:
        # Twelve calls, no one depending on another.
        cpp = [ffi(add_one, xs[i]) for i in range(4)]
        py = [ffi(scale_target, xs[4 + i], factor=i + 2) for i in range(4)]
        rec = [ffi(minus_one, xs[8 + i]) for i in range(4)]
        return (*cpp, *py, *rec)

    for round_ in range(100):
        xs = jnp.arange(12 * 4096, dtype=jnp.float32).reshape(12, 4096) + round_
        outs = program(xs)
        host = np.asarray(xs)
        for i in range(4):
            np.testing.assert_array_equal(outs[i], host[i] + 1)
            np.testing.assert_array_equal(outs[4 + i], host[4 + i] * (i + 2))
            np.testing.assert_array_equal(outs[8 + i], host[8 + i] - 1)
    assert threads_seen


def test_registering_while_other_threads_call(
    kernels: tvm_ffi.Module, register, unique_name: Callable[[str], str]
) -> None:
    add_one = register(kernels.add_one_f32, label="cpp")

    def py_add_one(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) + 1

    # Swapped between a C++ and a Python function with the same result while being called.
    swapped = register(kernels.add_one_f32, label="swapped")
    prefix = unique_name("new")
    stop = threading.Event()
    x = jnp.arange(8, dtype=jnp.float32)

    def work(index: int) -> None:
        if index == 0:
            try:
                for i in range(300):
                    function = kernels.add_one_f32 if i % 2 else py_add_one
                    jax_tvm_ffi.register_ffi_target(f"{prefix}.{i}", function)
                    jax_tvm_ffi.register_ffi_target(swapped, function)
                    if i % 50 == 0:
                        np.testing.assert_array_equal(ffi(f"{prefix}.{i}", x), x + 1)
            finally:
                stop.set()
            return
        program = jax.jit(lambda v: ffi(swapped, ffi(add_one, v)))
        calls = 0
        while not stop.is_set() or calls < 50:
            np.testing.assert_array_equal(program(x + calls), x + calls + 2)
            calls += 1

    run_threads(4, work)
    for i in (0, 1, 299):
        np.testing.assert_array_equal(ffi(f"{prefix}.{i}", x), x + 1)
