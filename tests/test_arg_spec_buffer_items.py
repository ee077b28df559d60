"""Buffers by index ("args.<i>", "rets.<i>"), optional buffers ("args.<i>?", "rets.<i>?") and
"none" in an arg spec: what the function receives, in every JAX context, on both call paths.

The C++ kernels below write values that depend on which buffer arrived in which parameter, so a
wrong order, a missing None or a None where a tensor belongs shows in the results. Each is run
with ``pass_owned_tensor=False`` (borrowed views: the straight path) and ``True`` (owned tensors:
the general path), eagerly, under ``jit``, ``vmap``, ``lax.scan`` and through ``ffi_function``.
Python callbacks (always owned tensors) are checked for what they receive, item by item.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/optional.h>

#include <cstdint>

using tvm::ffi::Optional;
using tvm::ffi::TensorView;

namespace {
float* F32(TensorView t) { return static_cast<float*>(t.data_ptr()); }
}  // namespace

// Outputs first, inputs swapped, an optional input in the middle:
// out0 = 10 * in0 + in1; out1 = 100 * maybe, or -1 where maybe is None.
void order5(TensorView out0, TensorView in1, TensorView in0, Optional<TensorView> maybe,
            TensorView out1) {
  for (int64_t i = 0; i < out0.numel(); ++i) {
    F32(out0)[i] = 10 * F32(in0)[i] + F32(in1)[i];
    F32(out1)[i] = maybe.has_value() ? 100 * F32(*maybe)[i] : -1.0f;
  }
}

// y = x + maybe, or x + 1000 where maybe is None.
void opt_add(TensorView x, Optional<TensorView> maybe, TensorView y) {
  for (int64_t i = 0; i < y.numel(); ++i) {
    F32(y)[i] = F32(x)[i] + (maybe.has_value() ? F32(*maybe)[i] : 1000.0f);
  }
}

// out = 100 * a + 10 * b + c.
void weigh3(TensorView out, TensorView a, TensorView b, TensorView c) {
  for (int64_t i = 0; i < out.numel(); ++i) {
    F32(out)[i] = 100 * F32(a)[i] + 10 * F32(b)[i] + F32(c)[i];
  }
}

// first = x + 1, second = 2 * x.
void two_outs(TensorView x, TensorView first, TensorView second) {
  for (int64_t i = 0; i < x.numel(); ++i) {
    F32(first)[i] = F32(x)[i] + 1;
    F32(second)[i] = 2 * F32(x)[i];
  }
}

// y = x + 1 where extra is None, else x + 2 and extra = 3 * x.
void opt_out(TensorView x, Optional<TensorView> extra, TensorView y) {
  for (int64_t i = 0; i < x.numel(); ++i) {
    F32(y)[i] = F32(x)[i] + (extra.has_value() ? 2.0f : 1.0f);
    if (extra.has_value()) F32(*extra)[i] = 3 * F32(x)[i];
  }
}
"""
FUNCTIONS = ["order5", "opt_add", "weigh3", "two_outs", "opt_out"]

A = jnp.array([1.0, 2.0, 3.0], jnp.float32)
B = jnp.array([0.25, 0.5, 0.75], jnp.float32)
C = jnp.array([7.0, 8.0, 9.0], jnp.float32)
EMPTY = jnp.zeros((0,), jnp.float32)
VEC = jax.ShapeDtypeStruct(A.shape, A.dtype)

CONTEXTS = ["eager", "jit", "vmap", "scan", "ffi_function"]
OWNED = [False, True]
OWNED_IDS = ["views", "owned"]


@pytest.fixture(scope="module")
def mod() -> tvm_ffi.Module:
    return tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_test_buffer_items", cpp_sources=SOURCE, functions=FUNCTIONS
    )


def run(
    context: str,
    function: Any,
    spec: Sequence[str],
    results: Any,
    inputs: Sequence[jax.Array],
    register: Callable[..., str],
    *,
    owned: bool,
    batched: Sequence[bool] | None = None,
) -> Any:
    """Calls ``function`` through ``spec`` on ``inputs`` in ``context``; returns the results.

    Under ``vmap`` the inputs marked in ``batched`` (default: all non-empty ones) are stacked
    twice (with the second copy doubled) and the second batch element is checked against the
    function applied to doubled inputs, then the first is returned; under ``scan`` the call runs
    twice in the loop body and the second step's results are returned.
    """
    if context == "ffi_function":
        f = jax_tvm_ffi.ffi_function(function, results, arg_spec=spec, pass_owned_tensor=owned)
        return jax.jit(f)(*inputs)
    name = register(function, spec, pass_owned_tensor=owned)
    call = jax.ffi.ffi_call(name, results, vmap_method="sequential")
    if context == "eager":
        return call(*inputs)
    if context == "jit":
        return jax.jit(call)(*inputs)
    if context == "vmap":
        flags = batched if batched is not None else [x.size != 0 for x in inputs]
        stacked = [jnp.stack([x, 2 * x]) if b else x for x, b in zip(inputs, flags, strict=True)]
        axes = [0 if b else None for b in flags]
        both = jax.vmap(call, in_axes=axes)(*stacked)
        doubled = call(*[2 * x if b else x for x, b in zip(inputs, flags, strict=True)])
        for got, want in zip(jax.tree.leaves(both), jax.tree.leaves(doubled), strict=True):
            np.testing.assert_array_equal(got[1], want)
        return jax.tree.map(lambda r: r[0], both)
    assert context == "scan"

    def step(carry: Any, _: Any) -> tuple[Any, Any]:
        return carry, call(*inputs)

    _, per_step = jax.lax.scan(step, 0, None, length=2)
    return jax.tree.map(lambda r: r[1], per_step)


# ---------------------------------------------------------------------------------------------
# C++ kernels


ORDER5_SPEC = ["rets.0", "args.1", "args.0", "args.2?", "rets.1"]


@pytest.mark.parametrize("owned", OWNED, ids=OWNED_IDS)
@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("present", [True, False], ids=["present", "empty"])
def test_outputs_first_swapped_inputs_and_an_optional_input(
    mod: tvm_ffi.Module, register, context: str, owned: bool, present: bool
) -> None:
    # A zero-element array in the optional place arrives as None (order5 then writes -1).
    maybe = C if present else EMPTY
    out0, out1 = run(
        context, mod.order5, ORDER5_SPEC, (VEC, VEC), [A, B, maybe], register, owned=owned
    )
    np.testing.assert_array_equal(out0, 10 * A + B)
    np.testing.assert_array_equal(out1, 100 * C if present else np.full(3, -1.0, np.float32))


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 5, 2)], ids=["0", "3x0", "0x5x2"])
@pytest.mark.parametrize("owned", OWNED, ids=OWNED_IDS)
def test_any_zero_dimension_makes_an_optional_buffer_none(
    mod: tvm_ffi.Module, register, owned: bool, shape: tuple[int, ...]
) -> None:
    name = register(mod.opt_add, ["args.0", "args.1?", "rets.0"], pass_owned_tensor=owned)
    y = jax.jit(jax.ffi.ffi_call(name, VEC))(A, jnp.zeros(shape, jnp.float32))
    np.testing.assert_array_equal(y, A + 1000)


@pytest.mark.parametrize("owned", OWNED, ids=OWNED_IDS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_none_reaches_an_optional_parameter(
    mod: tvm_ffi.Module, register, context: str, owned: bool
) -> None:
    y = run(context, mod.opt_add, ["args.0", "none", "rets.0"], VEC, [A], register, owned=owned)
    np.testing.assert_array_equal(y, A + 1000)


# weigh3(out, a, b, c) = 100 a + 10 b + c, on inputs A, B, C: (spec, what it computes).
REST_OF_ARGS = [
    # out, input 1, then "args": inputs 0 and 2.
    (["rets", "args.1", "args"], 100 * B + 10 * A + C),
    # "args" before the index it skips: inputs 1 and 2, then input 0.
    (["rets", "args", "args.0"], 100 * B + 10 * C + A),
    # "args" with nothing left to pass: an empty run.
    (["rets", "args.2", "args", "args.0", "args.1"], 100 * C + 10 * A + B),
]


@pytest.mark.parametrize("owned", OWNED, ids=OWNED_IDS)
@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(
    ("spec", "want"), REST_OF_ARGS, ids=[" ".join(case[0]) for case in REST_OF_ARGS]
)
def test_args_passes_the_inputs_no_index_names(
    mod: tvm_ffi.Module, register, context: str, owned: bool, spec: list[str], want: jax.Array
) -> None:
    out = run(context, mod.weigh3, spec, VEC, [A, B, C], register, owned=owned)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("owned", OWNED, ids=OWNED_IDS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_rets_passes_the_outputs_no_index_names(
    mod: tvm_ffi.Module, register, context: str, owned: bool
) -> None:
    # two_outs(x, first, second) receives output 1 as `first` and "rets" (output 0) as `second`.
    out0, out1 = run(
        context, mod.two_outs, ["args", "rets.1", "rets"], (VEC, VEC), [A], register, owned=owned
    )
    np.testing.assert_array_equal(out0, 2 * A)
    np.testing.assert_array_equal(out1, A + 1)


@pytest.mark.parametrize("owned", OWNED, ids=OWNED_IDS)
@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("present", [True, False], ids=["present", "empty"])
def test_optional_output(
    mod: tvm_ffi.Module, register, context: str, owned: bool, present: bool
) -> None:
    extra = VEC if present else jax.ShapeDtypeStruct((0,), jnp.float32)
    y, written = run(
        context,
        mod.opt_out,
        ["args", "rets.1?", "rets.0"],
        (VEC, extra),
        [A],
        register,
        owned=owned,
    )
    np.testing.assert_array_equal(y, A + (2 if present else 1))
    if present:
        np.testing.assert_array_equal(written, 3 * A)
    else:
        assert written.shape == (0,)


@pytest.mark.parametrize("owned", OWNED, ids=OWNED_IDS)
def test_optional_buffer_alternates_between_calls(
    mod: tvm_ffi.Module, register, owned: bool
) -> None:
    # One target, one compiled call per shape: None and a tensor in turn, nothing carried over.
    name = register(mod.opt_add, ["args.0", "args.1?", "rets.0"], pass_owned_tensor=owned)
    call = jax.jit(jax.ffi.ffi_call(name, VEC))
    for _ in range(3):
        np.testing.assert_array_equal(call(A, C), A + C)
        np.testing.assert_array_equal(call(A, EMPTY), A + 1000)


def test_buffer_items_with_attributes_and_context_items(register) -> None:
    # The new items among the old ones: each value lands in its own place.
    got: list[Any] = []

    def record(*values: Any) -> None:
        got.append([describe(v) for v in values])

    spec = ["attrs.k", "rets.0", "none", "ctx.device_id", "args.1?", "args.0", "ctx.stream"]
    name = register(record, spec)
    jax.block_until_ready(jax.jit(lambda a, e: jax.ffi.ffi_call(name, VEC)(a, e, k=5))(A, EMPTY))
    assert got == [[5, ((3,), "float32"), None, 0, None, ((3,), "float32"), 0]]


def test_item_order_and_indices_are_independent(mod: tvm_ffi.Module, register) -> None:
    # Every order of order5's three inputs through the spec: the kernel sees each by position.
    inputs = [A, B, C]
    for first, second, third in [(0, 1, 2), (1, 0, 2), (2, 1, 0), (0, 2, 1)]:
        spec = ["rets.0", f"args.{second}", f"args.{first}", f"args.{third}?", "rets.1"]
        name = register(mod.order5, spec)
        out0, out1 = jax.jit(jax.ffi.ffi_call(name, (VEC, VEC)))(*inputs)
        np.testing.assert_array_equal(out0, 10 * inputs[first] + inputs[second])
        np.testing.assert_array_equal(out1, 100 * inputs[third])


# ---------------------------------------------------------------------------------------------
# Python callbacks


def describe(value: Any) -> Any:
    """A received value: (shape, dtype) for a tensor, the value itself otherwise."""
    if isinstance(value, tvm_ffi.Tensor):
        return (tuple(value.shape), str(value.dtype))
    return value


@pytest.mark.parametrize("context", CONTEXTS)
def test_python_callback_receives_buffers_and_none_in_place(register, context: str) -> None:
    received: list[list[Any]] = []

    def callback(out0: Any, in1: Any, in0: Any, maybe: Any, unused: Any, out1: Any) -> None:
        received.append([describe(v) for v in (out0, in1, in0, maybe, unused, out1)])
        np.from_dlpack(out0)[...] = 10 * np.from_dlpack(in0) + np.from_dlpack(in1)
        np.from_dlpack(out1)[...] = -1 if maybe is None else 100 * np.from_dlpack(maybe)

    spec = ["rets.0", "args.1", "args.0", "args.2?", "none", "rets.1"]
    wide = jax.ShapeDtypeStruct((3,), jnp.float64)
    for maybe in (C, EMPTY):
        received.clear()
        out0, out1 = run(
            context,
            callback,
            spec,
            (VEC, wide),
            [A, B.astype(jnp.float64), maybe],
            register,
            owned=True,
        )
        np.testing.assert_array_equal(out0, 10 * A + B)
        np.testing.assert_array_equal(out1, -1 if maybe.size == 0 else 100 * C)
        tensor = [((3,), "float32"), ((3,), "float64"), ((3,), "float32")]
        want_maybe = None if maybe.size == 0 else ((3,), "float32")
        want = [tensor[0], tensor[1], tensor[2], want_maybe, None, ((3,), "float64")]
        # Every call received the same (vmap runs the callback once per batch element).
        assert received and all(r == want for r in received), received


def test_python_callback_optional_output(register) -> None:
    received: list[Any] = []

    def callback(x: Any, extra: Any, y: Any) -> None:
        received.append(describe(extra))
        np.from_dlpack(y)[...] = np.from_dlpack(x) + 1

    spec = ["args", "rets.1?", "rets.0"]
    for extra, want in ((VEC, ((3,), "float32")), (jax.ShapeDtypeStruct((2, 0), jnp.int8), None)):
        received.clear()
        f = jax_tvm_ffi.ffi_function(callback, (VEC, extra), arg_spec=spec)
        y, _ = jax.jit(f)(A)
        np.testing.assert_array_equal(y, A + 1)
        assert received == [want]


def test_optional_buffer_of_any_dtype_and_rank(register) -> None:
    # Emptiness is the only thing that decides None: dtype and rank do not matter.
    received: list[Any] = []
    name = register(lambda x: received.append(describe(x)), ["args.0?"])
    call = jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((1,), jnp.int8), has_side_effect=True)
    cases = [
        (jnp.zeros((), jnp.int32), ((), "int32")),  # a scalar has one element
        (jnp.zeros((1, 1), jnp.bool_), ((1, 1), "bool")),
        (jnp.zeros((4, 0, 2), jnp.complex64), None),
        (jnp.zeros((0,), jnp.int64), None),
    ]
    for value, want in cases:
        received.clear()
        jax.block_until_ready(call(value))
        assert received == [want], value
