"""ffi_function targets under JAX transformations and control flow, against pure-JAX references:
eager, jit, scan, while_loop, cond, every vmap_method, grad through a custom_vjp whose forward
and backward passes are both C++ kernels, and in-place updates with input_output_aliases and
buffer donation."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest
import tvm_ffi
from ffi_function_support import RMS_SPEC, kernels, rms_norm_reference, rms_norm_shapes

import jax_tvm_ffi

EPS = 1e-6
RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 6)).astype(np.float32)
VMAP_METHODS = ["broadcast_all", "expand_dims", "sequential", "sequential_unrolled"]


def matvec_shapes(a: jax.ShapeDtypeStruct, v: jax.ShapeDtypeStruct) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(a.shape[:-1], a.dtype)


@pytest.fixture(scope="module")
def rms() -> jax_tvm_ffi.FfiFunction:
    return jax_tvm_ffi.ffi_function(kernels().rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC)


def normalize(rms: jax_tvm_ffi.FfiFunction, x: Any) -> Any:
    return rms(x, eps=EPS)[0]


def test_eager(rms: jax_tvm_ffi.FfiFunction) -> None:
    np.testing.assert_allclose(normalize(rms, X), rms_norm_reference(X, EPS), rtol=1e-5)


def test_jit_with_surrounding_computation(rms: jax_tvm_ffi.FfiFunction) -> None:
    def program(x: Any) -> Any:
        return jnp.tanh(normalize(rms, jnp.sin(x) * 3)).sum(axis=0)

    expected = jnp.tanh(rms_norm_reference(jnp.sin(X) * 3, EPS)).sum(axis=0)
    np.testing.assert_allclose(jax.jit(program)(X), expected, rtol=1e-5, atol=1e-6)


def test_scan(rms: jax_tvm_ffi.FfiFunction) -> None:
    def step(norm: Any) -> Any:
        def body(carry: Any, x: Any) -> tuple[Any, Any]:
            carry = norm(carry + x)
            return carry, carry.sum()

        return jax.jit(lambda xs: jax.lax.scan(body, jnp.zeros(6, jnp.float32), xs))

    bridged = step(lambda v: normalize(rms, v))(X)
    reference = step(lambda v: rms_norm_reference(v, EPS))(X)
    for got, want in zip(bridged, reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_while_loop(rms: jax_tvm_ffi.FfiFunction) -> None:
    # Doubles and normalizes until the first row's RMS-normalized values exceed a bound.
    def run(norm: Any) -> Any:
        return jax.jit(
            lambda x: jax.lax.while_loop(
                lambda state: state[1] < 5, lambda state: (norm(state[0] * 2), state[1] + 1), (x, 0)
            )
        )(X)

    bridged, steps = run(lambda v: normalize(rms, v))
    reference, _ = run(lambda v: rms_norm_reference(v, EPS))
    assert int(steps) == 5
    np.testing.assert_allclose(bridged, reference, rtol=1e-5)


def test_cond(rms: jax_tvm_ffi.FfiFunction) -> None:
    matvec = jax_tvm_ffi.ffi_function(kernels().matvec, matvec_shapes)
    v = np.arange(6, dtype=np.float32)

    @jax.jit
    def program(flag: Any, x: Any) -> Any:
        return jax.lax.cond(flag, lambda a: matvec(normalize(rms, a), v), lambda a: matvec(a, v), x)

    np.testing.assert_allclose(program(True, X), rms_norm_reference(X, EPS) @ v, rtol=1e-5)
    np.testing.assert_allclose(program(False, X), X @ v, rtol=1e-5)


# vmap -------------------------------------------------------------------------------------

A = RNG.standard_normal((5, 3, 4)).astype(np.float32)
V = RNG.standard_normal((5, 4)).astype(np.float32)
IN_AXES = [(0, 0), (0, None), (None, 0)]


def vmap_inputs(in_axes: tuple[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
    return (A if in_axes[0] == 0 else A[0], V if in_axes[1] == 0 else V[0])


@pytest.mark.parametrize("method", VMAP_METHODS)
@pytest.mark.parametrize("in_axes", IN_AXES, ids=str)
def test_vmap_cpp_kernel(method: str, in_axes: tuple[Any, Any]) -> None:
    matvec = jax_tvm_ffi.ffi_function(kernels().matvec, matvec_shapes, vmap_method=method)
    a, v = vmap_inputs(in_axes)
    reference = jax.vmap(lambda a, v: a @ v, in_axes=in_axes)(a, v)
    np.testing.assert_allclose(jax.vmap(matvec, in_axes=in_axes)(a, v), reference, rtol=1e-5)
    np.testing.assert_allclose(
        jax.jit(jax.vmap(matvec, in_axes=in_axes))(a, v), reference, rtol=1e-5
    )


@pytest.mark.parametrize(
    ("method", "calls"),
    [
        # one call on the batch; an unbatched input is broadcast to the batch size
        ("broadcast_all", [((5, 3, 4), (5, 4))]),
        # one call on the batch; an unbatched input gets a leading dimension of size 1
        ("expand_dims", [((5, 3, 4), (1, 4))]),
        # one call per batch element
        ("sequential", [((3, 4), (4,))] * 5),
        ("sequential_unrolled", [((3, 4), (4,))] * 5),
    ],
)
def test_vmap_method_decides_what_the_function_receives(
    method: str, calls: list[tuple[tuple[int, ...], ...]]
) -> None:
    seen: list[tuple[tuple[int, ...], ...]] = []

    def matvec(a: tvm_ffi.Tensor, v: tvm_ffi.Tensor, out: tvm_ffi.Tensor) -> None:
        seen.append((tuple(a.shape), tuple(v.shape)))
        np.from_dlpack(out)[...] = np.matmul(np.from_dlpack(a), np.from_dlpack(v)[..., None])[
            ..., 0
        ]

    f = jax_tvm_ffi.ffi_function(matvec, matvec_shapes, vmap_method=method)
    out = jax.jit(jax.vmap(f, in_axes=(0, None)))(A, V[0])
    np.testing.assert_allclose(out, A @ V[0], rtol=1e-5)
    assert seen == calls


def test_nested_vmap_broadcast_all(rms: jax_tvm_ffi.FfiFunction) -> None:
    f = jax_tvm_ffi.ffi_function(
        kernels().rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC, vmap_method="broadcast_all"
    )
    batch = RNG.standard_normal((2, 3, 4, 6)).astype(np.float32)
    out = jax.jit(jax.vmap(jax.vmap(lambda x: f(x, eps=EPS)[0])))(batch)
    np.testing.assert_allclose(out, rms_norm_reference(batch, EPS), rtol=1e-5)


# grad through a custom_vjp of two C++ kernels ---------------------------------------------


def bridged_rms_norm() -> Any:
    mod = kernels()
    forward = jax_tvm_ffi.ffi_function(
        mod.rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC, vmap_method="broadcast_all"
    )
    backward = jax_tvm_ffi.ffi_function(
        mod.rms_norm_bwd, lambda x, inv_rms, g: x, vmap_method="broadcast_all"
    )

    @jax.custom_vjp
    def rms_norm(x: Any) -> Any:
        return forward(x, eps=EPS)[0]

    def rms_norm_fwd(x: Any) -> tuple[Any, Any]:
        y, inv_rms = forward(x, eps=EPS)
        return y, (x, inv_rms)

    def rms_norm_bwd(residuals: Any, g: Any) -> tuple[Any]:
        x, inv_rms = residuals
        return (backward(x, inv_rms, g),)

    rms_norm.defvjp(rms_norm_fwd, rms_norm_bwd)
    return rms_norm


def loss(norm: Any, x: Any) -> Any:
    return jnp.sum(jnp.sin(norm(x)) * jnp.arange(x.shape[-1]))


def test_grad_matches_the_pure_jax_gradient() -> None:
    rms_norm = bridged_rms_norm()
    x = RNG.standard_normal((3, 5))  # float64: the suite runs with jax_enable_x64
    got = jax.jit(jax.grad(lambda x: loss(rms_norm, x)))(x)
    want = jax.grad(lambda x: loss(lambda v: rms_norm_reference(v, EPS), x))(x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_grad_passes_check_grads() -> None:
    rms_norm = bridged_rms_norm()
    x = RNG.standard_normal((3, 5))
    jax.test_util.check_grads(lambda x: loss(rms_norm, x), (x,), order=1, modes=["rev"])


def test_grad_float32_and_vmap_of_grad() -> None:
    rms_norm = bridged_rms_norm()
    batch = RNG.standard_normal((4, 3, 5)).astype(np.float32)
    grad = jax.vmap(jax.grad(lambda x: loss(rms_norm, x)))
    want = jax.vmap(jax.grad(lambda x: loss(lambda v: rms_norm_reference(v, EPS), x)))(batch)
    np.testing.assert_allclose(jax.jit(grad)(batch), want, rtol=1e-4, atol=1e-5)


# input_output_aliases and donation ---------------------------------------------------------


@pytest.fixture(scope="module")
def add_into() -> jax_tvm_ffi.FfiFunction:
    return jax_tvm_ffi.ffi_function(
        kernels().add_into,
        lambda acc, update: (acc, jax.ShapeDtypeStruct((), jnp.int32)),
        input_output_aliases={0: 0},
    )


def test_aliased_output_is_written_into_the_input_buffer(add_into: jax_tvm_ffi.FfiFunction) -> None:
    acc = jnp.asarray(X)
    out, aliased = jax.jit(add_into)(acc, X)
    np.testing.assert_array_equal(out, 2 * X)
    assert int(aliased) == 1  # the kernel saw one buffer for acc and out
    np.testing.assert_array_equal(acc, X)  # not donated: XLA copied before updating in place


def test_donated_buffer_is_updated_in_place(add_into: jax_tvm_ffi.FfiFunction) -> None:
    # A buffer XLA allocated: one put from NumPy may borrow NumPy's memory, which XLA copies
    # instead of donating.
    acc = jnp.asarray(X) + 0
    address = acc.unsafe_buffer_pointer()
    out, aliased = jax.jit(add_into, donate_argnums=0)(acc, X)
    assert int(aliased) == 1
    assert acc.is_deleted()
    assert out.unsafe_buffer_pointer() == address
    np.testing.assert_array_equal(out, 2 * X)


def test_in_place_accumulation_in_a_loop(add_into: jax_tvm_ffi.FfiFunction) -> None:
    @jax.jit
    def accumulate(acc: Any, updates: Any) -> Any:
        return jax.lax.fori_loop(0, 3, lambda i, a: add_into(a, updates[i])[0], acc)

    updates = RNG.standard_normal((3, 4, 6)).astype(np.float32)
    out = jax.jit(accumulate, donate_argnums=0)(jnp.zeros((4, 6), jnp.float32), updates)
    np.testing.assert_allclose(out, updates.sum(axis=0), rtol=1e-6)


def test_python_callback_result_starts_with_the_aliased_input() -> None:
    def add_into(acc: tvm_ffi.Tensor, update: tvm_ffi.Tensor, out: tvm_ffi.Tensor) -> None:
        np.from_dlpack(out)[...] += np.from_dlpack(update)  # in place, as on the shared buffer

    f = jax_tvm_ffi.ffi_function(add_into, lambda acc, update: acc, input_output_aliases={0: 0})
    out = jax.jit(f, donate_argnums=0)(jnp.full((3,), 10.0, jnp.float32), np.ones(3, np.float32))
    np.testing.assert_array_equal(out, np.full(3, 11.0, np.float32))
