"""Bridged targets inside JAX transformations: eager, jit, vmap, scan, loops, cond."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi


def add_one(name: str, x: jax.Array, vmap_method: str | None = None) -> jax.Array:
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype), vmap_method=vmap_method)(
        x
    )


@pytest.fixture
def add_one_target(kernels: tvm_ffi.Module, register) -> str:
    return register(kernels.add_one_f32)


X = jnp.arange(6, dtype=jnp.float32).reshape(2, 3)


def test_eager(add_one_target: str) -> None:
    np.testing.assert_array_equal(add_one(add_one_target, X), X + 1)


def test_jit_with_surrounding_computation(add_one_target: str) -> None:
    @jax.jit
    def program(x: jax.Array) -> jax.Array:
        y = add_one(add_one_target, jnp.sin(x) * 2)
        return add_one(add_one_target, y).sum(axis=0)

    expected = (np.sin(np.asarray(X)) * 2 + 2).sum(axis=0)
    np.testing.assert_allclose(program(X), expected, rtol=1e-6)


def test_jit_compiled_once_runs_many_times(add_one_target: str) -> None:
    program = jax.jit(lambda x: add_one(add_one_target, x))
    for i in range(50):
        x = jnp.full((4,), i, jnp.float32)
        np.testing.assert_array_equal(program(x), x + 1)


def test_vmap_broadcast_all_passes_the_batched_array(register) -> None:
    shapes: list[tuple[int, ...]] = []

    def record(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        shapes.append(tuple(x.shape))
        np.from_dlpack(y)[...] = np.from_dlpack(x) * 2

    name = register(record, pass_owned_tensor=True)
    batch = jnp.arange(12, dtype=jnp.float32).reshape(4, 3)
    out = jax.vmap(
        lambda x: jax.ffi.ffi_call(
            name, jax.ShapeDtypeStruct(x.shape, x.dtype), vmap_method="broadcast_all"
        )(x)
    )(batch)
    np.testing.assert_array_equal(out, batch * 2)
    assert shapes == [(4, 3)]


def test_vmap_cpp_kernel(add_one_target: str) -> None:
    batch = jnp.arange(24, dtype=jnp.float32).reshape(2, 4, 3)
    out = jax.jit(jax.vmap(jax.vmap(lambda x: add_one(add_one_target, x, "broadcast_all"))))(batch)
    np.testing.assert_array_equal(out, batch + 1)


def test_vmap_sequential(add_one_target: str) -> None:
    batch = jnp.arange(12, dtype=jnp.float32).reshape(4, 3)
    out = jax.vmap(lambda x: add_one(add_one_target, x, "sequential"))(batch)
    np.testing.assert_array_equal(out, batch + 1)


def test_vmap_with_attributes(kernels: tvm_ffi.Module, register) -> None:
    spec = ["args", "rets", "attrs.scale", "attrs.offset", "attrs.negate", "attrs.mode"]
    name = register(kernels.affine_attrs, spec)
    batch = jnp.arange(6, dtype=jnp.float32).reshape(3, 2)

    def affine(x: jax.Array) -> jax.Array:
        return jax.ffi.ffi_call(
            name, jax.ShapeDtypeStruct(x.shape, x.dtype), vmap_method="broadcast_all"
        )(x, scale=2.0, offset=1, negate=False, mode="affine")

    np.testing.assert_array_equal(jax.vmap(affine)(batch), batch * 2 + 1)


def test_scan(add_one_target: str) -> None:
    def step(carry: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        carry = add_one(add_one_target, carry) + x
        return carry, add_one(add_one_target, carry)

    xs = jnp.arange(15, dtype=jnp.float32).reshape(5, 3)
    final, ys = jax.jit(lambda c, xs: jax.lax.scan(step, c, xs))(jnp.zeros(3, jnp.float32), xs)

    carry = np.zeros(3, np.float32)
    expected: list[np.ndarray] = []
    for x in np.asarray(xs):
        carry = carry + 1 + x
        expected.append(carry + 1)
    np.testing.assert_array_equal(final, carry)
    np.testing.assert_array_equal(ys, np.stack(expected))


def test_fori_loop(add_one_target: str) -> None:
    out = jax.jit(lambda x: jax.lax.fori_loop(0, 10, lambda i, v: add_one(add_one_target, v), x))(X)
    np.testing.assert_array_equal(out, X + 10)


def test_while_loop(add_one_target: str) -> None:
    out = jax.lax.while_loop(
        lambda v: v[0, 0] < 7, lambda v: add_one(add_one_target, v), jnp.zeros((2, 2), jnp.float32)
    )
    np.testing.assert_array_equal(out, np.full((2, 2), 7, np.float32))


def test_cond(kernels: tvm_ffi.Module, register) -> None:
    plus = register(kernels.add_one_f32, label="plus")
    times = register(kernels.times_two_f32, label="times")

    @jax.jit
    def program(p: jax.Array, x: jax.Array) -> jax.Array:
        return jax.lax.cond(p, lambda v: add_one(plus, v), lambda v: add_one(times, v), x)

    np.testing.assert_array_equal(program(True, X), X + 1)
    np.testing.assert_array_equal(program(False, X), X * 2)


def test_python_callback_in_scan(register) -> None:
    calls: list[Any] = []

    def accumulate(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        calls.append(None)
        np.from_dlpack(y)[...] = np.from_dlpack(x) + len(calls)

    name = register(accumulate, pass_owned_tensor=True)
    final, _ = jax.lax.scan(
        lambda c, _: (add_one(name, c), None), jnp.zeros(2, jnp.float32), None, length=4
    )
    assert len(calls) == 4
    np.testing.assert_array_equal(final, np.full(2, 1 + 2 + 3 + 4, np.float32))


def test_grad_flows_around_the_call(add_one_target: str) -> None:
    # ffi_call has no derivative; a custom_vjp around it is the standard pattern.
    @jax.custom_vjp
    def bridged(x: jax.Array) -> jax.Array:
        return add_one(add_one_target, x)

    bridged.defvjp(lambda x: (bridged(x), None), lambda _, g: (g,))
    grad = jax.grad(lambda x: (bridged(x) ** 2).sum())(X)
    np.testing.assert_array_equal(grad, 2 * (X + 1))
