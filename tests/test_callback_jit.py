"""Jitted JAX inside a Python callback, on the tensors the callback was given, with no copy.

JAX's CPU client makes a zero-copy buffer of a NumPy input to a jitted function, and the
reference that buffer holds on the array (and so on the owned tensor behind it) is dropped only
after the callback returns: XLA's thread releases the buffer after the result is ready, and
jaxlib defers the Python decref to its next dispatch or garbage collection. On CPU a kept input
is a private copy equal to the input (src/call/owned_tensor.h), so it does not fail the call; a kept
result still does. These tests run the natural callback eagerly and inside an outer jax.jit, on
repeated calls, and check that nothing it left behind outlives the next dispatch.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest


def inner(v: jax.Array) -> jax.Array:
    return jnp.sin(v) * 2 + 1


INNER = jax.jit(inner)


def call(name: str, x: jax.Array) -> jax.Array:
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype))(x)


def outer_modes(name: str) -> dict[str, Callable[[jax.Array], jax.Array]]:
    return {"eager": lambda x: call(name, x), "jit": jax.jit(lambda x: call(name, x))}


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_jitted_jax_on_the_given_input_in_a_callback(register, mode: str) -> None:
    def callback(x: Any, y: Any) -> None:
        np.from_dlpack(y)[...] = INNER(np.from_dlpack(x))  # no copy of x in user code

    run = outer_modes(register(callback))[mode]
    for i in range(50):
        x = jnp.linspace(-3.0, 3.0, 4096, dtype=jnp.float32) + i
        np.testing.assert_allclose(run(x), inner(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_jitted_jax_on_several_inputs_and_results(register, mode: str) -> None:
    both = jax.jit(lambda a, b: (a @ b, a - b.T))

    def callback(a: Any, b: Any, product: Any, difference: Any) -> None:
        np.from_dlpack(product)[...], np.from_dlpack(difference)[...] = both(
            np.from_dlpack(a), np.from_dlpack(b)
        )

    name = register(callback)
    shapes = (jax.ShapeDtypeStruct((64, 64), jnp.float32),) * 2
    run = jax.ffi.ffi_call(name, shapes)
    if mode == "jit":
        run = jax.jit(run)
    for i in range(20):
        a = jnp.full((64, 64), 0.5, jnp.float32) + jnp.eye(64, dtype=jnp.float32) * i
        b = jnp.arange(64 * 64, dtype=jnp.float32).reshape(64, 64) / 4096
        product, difference = run(a, b)
        np.testing.assert_allclose(product, a @ b, rtol=1e-5)
        np.testing.assert_array_equal(difference, a - b.T)


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_nothing_the_callback_gave_jax_outlives_the_next_dispatch(register, mode: str) -> None:
    # Each input array (and through it its owned tensor) must be released once jaxlib runs its
    # deferred decrefs. The last call's may still be held by a buffer XLA's thread has not yet
    # dropped, so at most one may be alive; a leak would leave every one of them.
    arrays: list[weakref.ref[np.ndarray]] = []

    def callback(x: Any, y: Any) -> None:
        array = np.from_dlpack(x)
        arrays.append(weakref.ref(array))
        np.from_dlpack(y)[...] = INNER(array)

    run = outer_modes(register(callback))[mode]
    x = jnp.ones((1024,), jnp.float32)
    for _ in range(200):
        run(x).block_until_ready()
    INNER(np.zeros(8, np.float32)).block_until_ready()
    gc.collect()  # jaxlib runs its deferred decrefs at garbage collection too
    assert len(arrays) == 200
    assert sum(ref() is not None for ref in arrays) <= 1


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_resident_memory_stays_flat_over_many_calls(register) -> None:
    # 1 MB inputs: a private copy leaked per call would add 1 GB over the measured calls.
    def callback(x: Any, y: Any) -> None:
        np.from_dlpack(y)[...] = INNER(np.from_dlpack(x))

    name = register(callback)
    run = jax.jit(lambda x: call(name, x))
    x = jnp.ones((256 * 1024,), jnp.float32)
    for _ in range(100):
        run(x).block_until_ready()
    before = resident_bytes()
    for _ in range(1000):
        run(x).block_until_ready()
    gc.collect()
    growth = resident_bytes() - before
    assert growth < 100 * 2**20, f"resident memory grew {growth / 2**20:.1f} MB over 1000 calls"


def test_a_callback_that_keeps_a_result_still_fails(register) -> None:
    # Writes through a kept result after the call would never reach XLA: that stays an error,
    # with the published jax-tvm-ffi 0.1.3's words that code written for it matches on.
    kept: list[np.ndarray] = []

    def callback(x: Any, y: Any) -> None:
        out = np.from_dlpack(y)
        out[...] = INNER(np.from_dlpack(x))
        kept.append(out)

    name = register(callback)
    with pytest.raises(jax.errors.JaxRuntimeError, match="Leaked temp owned tensors") as raised:
        np.asarray(jax.jit(lambda x: call(name, x))(jnp.ones((8,), jnp.float32)))
    message = str(raised.value)
    assert name in message and "result 0" in message and "argument 0" not in message
    np.testing.assert_allclose(kept[0], inner(jnp.ones((8,), jnp.float32)), rtol=1e-6)
