"""arg_spec: what the function receives, in which order, and validation at registration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi

X = jnp.array([1.0, 2.0, 3.0], jnp.float32)


def describe(values: tuple[Any, ...]) -> list[Any]:
    """What a Python function received: (shape, dtype) for tensors, the value otherwise."""
    return [(tuple(v.shape), str(v.dtype)) if isinstance(v, tvm_ffi.Tensor) else v for v in values]


def recorder() -> tuple[list[list[Any]], Callable[..., None]]:
    calls: list[list[Any]] = []

    def record(*values: Any) -> None:
        calls.append(describe(values))

    return calls, record


def test_default_spec_passes_args_then_rets(register) -> None:
    calls, record = recorder()
    name = register(record)
    jax.ffi.ffi_call(
        name, (jax.ShapeDtypeStruct((2, 2), jnp.int32), jax.ShapeDtypeStruct((5,), jnp.int8))
    )(X, jnp.zeros((4,), jnp.float64))
    assert calls == [[((3,), "float32"), ((4,), "float64"), ((2, 2), "int32"), ((5,), "int8")]]


def test_explicit_default_spec_matches_none(kernels: tvm_ffi.Module, register) -> None:
    for spec in (None, ["args", "rets"], ("args", "rets")):
        name = register(kernels.add_one_f32, spec)
        out = jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(X.shape, X.dtype))(X)
        np.testing.assert_array_equal(out, X + 1)


def test_rets_before_args(register) -> None:
    calls, record = recorder()
    name = register(record, ["rets", "args"])
    jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((2, 2), jnp.int32))(X)
    assert calls == [[((2, 2), "int32"), ((3,), "float32")]]


def test_interleaved_items_in_python(register) -> None:
    calls, record = recorder()
    spec = ["attrs.b", "rets", "ctx.device_id", "args", "attrs.a", "ctx.stream"]
    name = register(record, spec)
    jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((2,), jnp.int16))(X, a="A", b=np.int32(7))
    assert calls == [[7, ((2,), "int16"), 0, ((3,), "float32"), "A", 0]]


def test_interleaved_items_in_cpp(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.axpy_interleaved, ["rets", "attrs.alpha", "args"])
    a = jnp.array([1.0, 2.0, 3.0], jnp.float32)
    b = jnp.array([10.0, 20.0, 30.0], jnp.float32)
    out = jax.jit(
        lambda a, b: jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(a.shape, a.dtype))(
            a, b, alpha=np.float64(0.5)
        )
    )(a, b)
    np.testing.assert_array_equal(out, 0.5 * a + b)


def test_stream_and_device_id_are_zero_on_cpu(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.placement, ["ctx.device_id", "args", "ctx.stream", "rets"])
    out = jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((2,), jnp.int64))(X)
    np.testing.assert_array_equal(out, [0, 0])


def test_stream_and_device_id_reach_python_as_ints(register) -> None:
    calls, record = recorder()
    name = register(record, ["ctx.stream", "ctx.device_id"])
    jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((1,), jnp.int8), has_side_effect=True)()
    assert calls == [[0, 0]]
    assert all(type(value) is int for value in calls[0])


def test_rets_only(register) -> None:
    def fill(y: tvm_ffi.Tensor, z: tvm_ffi.Tensor) -> None:
        np.from_dlpack(y)[...] = 5
        np.from_dlpack(z)[...] = 6

    name = register(fill, ["rets"], pass_owned_tensor=True)
    y, z = jax.ffi.ffi_call(
        name, (jax.ShapeDtypeStruct((2,), jnp.int32), jax.ShapeDtypeStruct((3,), jnp.float32))
    )(X)
    np.testing.assert_array_equal(y, [5, 5])
    np.testing.assert_array_equal(z, [6, 6, 6])


def test_empty_spec_calls_the_function_with_nothing(register) -> None:
    calls, record = recorder()
    name = register(record, [])
    jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((1,), jnp.int8), has_side_effect=True)(X)
    assert calls == [[]]


def test_several_results(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.sum_and_dec)
    total, decremented = jax.ffi.ffi_call(
        name, (jax.ShapeDtypeStruct((), jnp.float32), jax.ShapeDtypeStruct(X.shape, X.dtype))
    )(X)
    assert float(total) == 6.0
    np.testing.assert_array_equal(decremented, X - 1)


def test_many_high_rank_tensors(register) -> None:
    # 20 inputs and 20 outputs of rank 7: more tensors and shape entries than a call keeps
    # inline, so the decoder's overflow storage is used.
    shape = (1, 2, 1, 2, 1, 2, 3)
    inputs = [jnp.full(shape, i, jnp.float32) for i in range(20)]
    seen: list[int] = []

    def shift(*tensors: tvm_ffi.Tensor) -> None:
        seen.append(len(tensors))
        for i in range(20):
            assert tuple(tensors[i].shape) == shape
            np.from_dlpack(tensors[20 + i])[...] = np.from_dlpack(tensors[i]) + 100

    name = register(shift, pass_owned_tensor=True)
    outs = jax.jit(
        lambda *xs: jax.ffi.ffi_call(name, [jax.ShapeDtypeStruct(shape, jnp.float32)] * 20)(*xs)
    )(*inputs)
    assert seen == [40]
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out, np.full(shape, i + 100, np.float32))


def test_many_attributes(register) -> None:
    names = [f"attr_{i:02d}" for i in range(12)]
    calls, record = recorder()
    name = register(record, ["args", *[f"attrs.{n}" for n in reversed(names)]])
    attrs = {n: np.int64(i) for i, n in enumerate(names)}
    jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((1,), jnp.int8), has_side_effect=True)(X, **attrs)
    assert calls == [[((3,), "float32"), *reversed(range(12))]]


# Validation at registration. Each case: the arg_spec, the exception, a regex the message matches.
INVALID_SPECS = [
    (["args", "ret"], ValueError, r'"ret".*Did you mean "rets"'),
    (["attrs."], ValueError, r'"attrs\.".*empty'),
    (["args", "rets", "attrs"], ValueError, r'"attrs".*needs a name'),
    (["args", "args"], ValueError, r'"args".*more than once'),
    (["attrs.eps", "rets", "attrs.eps"], ValueError, r'"attrs\.eps".*more than once'),
    (["ctx.stream", "ctx.stream"], ValueError, r'"ctx\.stream".*more than once'),
    (["bogus"], ValueError, r'"bogus".*unknown'),
    (["ctx.streams"], ValueError, r'Did you mean "ctx\.stream"'),
    (["attr.eps"], ValueError, r'Did you mean "attrs\.eps"'),
    (["Args"], ValueError, r'"Args"'),
    ([""], ValueError, r'""'),
    (["args."], ValueError, r'"args\.": the input index must be a non-negative integer'),
    (["rets."], ValueError, r'"rets\.": the output index must be a non-negative integer'),
    (["args.a"], ValueError, r'"args\.a".*decimal'),
    (["args.-1"], ValueError, r'"args\.-1".*non-negative'),
    (["args.+1"], ValueError, r'"args\.\+1".*non-negative'),
    (["rets.00"], ValueError, r'"rets\.00".*no leading zeros'),
    (["args.0x1"], ValueError, r'"args\.0x1"'),
    (["args.1.0"], ValueError, r'"args\.1\.0"'),
    (["args. 1"], ValueError, r'"args\. 1"'),
    (["args.\u0663"], ValueError, r"input index"),  # an Arabic-Indic digit is not decimal here
    (["args.0??"], ValueError, r'"args\.0\?\?"'),
    (["rets.?"], ValueError, r'"rets\.\?".*output index'),
    (["args.?0"], ValueError, r'"args\.\?0"'),
    (["args.1048577"], ValueError, r'"args\.1048577".*larger than 1048576'),
    (["rets.18446744073709551616"], ValueError, r"larger than 1048576"),
    (["args?"], ValueError, r'"args\?".*Did you mean "args"'),
    (["none?"], ValueError, r'"none\?".*Did you mean "none"'),
    (["None"], ValueError, r'"None".*Did you mean "none"'),
    (["arg.0"], ValueError, r'"arg\.0"'),
    (["args.0", "args.0"], ValueError, r'"args\.0".*more than once'),
    (["args.0", "args.0?"], ValueError, r'"args\.0\?".*input 0, which another item already'),
    (["rets.2?", "args", "rets.2"], ValueError, r'"rets\.2".*output 2, which another item'),
    (["args", 3], TypeError, r"3.*int"),
    (["args", None], TypeError, r"None"),
    (["args", b"rets"], TypeError, r"bytes"),
    ("args", TypeError, r"list of strings"),
    (b"args", TypeError, r"list of strings"),
    ({"args": 1}, TypeError, r"list of strings"),
    (42, TypeError, r"list of strings"),
]


@pytest.mark.parametrize(
    ("spec", "error", "pattern"), INVALID_SPECS, ids=[repr(case[0]) for case in INVALID_SPECS]
)
def test_invalid_arg_spec_is_refused_at_registration(
    kernels: tvm_ffi.Module,
    unique_name: Callable[[str], str],
    spec: Any,
    error: type[Exception],
    pattern: str,
) -> None:
    name = unique_name()
    before = jax_tvm_ffi.registered_count()
    with pytest.raises(error, match=pattern) as raised:
        jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32, spec)
    assert name in str(raised.value)
    assert jax_tvm_ffi.registered_count() == before


def test_invalid_item_message_lists_the_valid_items(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    with pytest.raises(ValueError) as raised:
        jax_tvm_ffi.register_ffi_target(unique_name(), kernels.add_one_f32, ["bogus"])
    for item in ('"args"', '"rets"', '"attrs.<name>"', '"ctx.stream"', '"ctx.device_id"'):
        assert item in str(raised.value)


def test_duplicate_item_message_does_not_suggest_the_item_itself(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    # A repeated valid item is not a typo: 'Did you mean "args"?' for "args" misleads.
    for item in ("args", "rets", "ctx.stream", "ctx.device_id"):
        with pytest.raises(ValueError, match="more than once") as raised:
            jax_tvm_ffi.register_ffi_target(unique_name(), kernels.add_one_f32, [item, item])
        assert f'Did you mean "{item}"' not in str(raised.value)


def test_invalid_item_message_lists_the_buffer_items(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    with pytest.raises(jax_tvm_ffi.ArgSpecError) as raised:
        jax_tvm_ffi.register_ffi_target(unique_name(), kernels.add_one_f32, ["args.x"])
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, RuntimeError)
    for item in ('"args.<i>"', '"rets.<i>"', '"args.<i>?"', '"rets.<i>?"', '"none"'):
        assert item in str(raised.value)


def test_a_buffer_index_names_one_buffer_not_a_near_miss(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    # A malformed index is not a typo of "args": no 'Did you mean' that drops the index.
    for item in ("args.x", "args.01", "rets.-1"):
        with pytest.raises(ValueError) as raised:
            jax_tvm_ffi.register_ffi_target(unique_name(), kernels.add_one_f32, [item])
        assert "Did you mean" not in str(raised.value), item


def test_largest_index_is_accepted_at_registration(register) -> None:
    # Indices up to the limit register; a call with fewer buffers is what fails (at the call).
    name = register(lambda *values: None, ["args.1048576", "rets"])
    with pytest.raises(jax.errors.JaxRuntimeError, match=r'"args\.1048576" names input 1048576'):
        jax.block_until_ready(jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((1,), jnp.int8))(X))


def test_indexed_items_in_python(register) -> None:
    # Each buffer by index and "args"/"rets" for the rest, among the other items.
    calls, record = recorder()
    spec = ["rets.1", "args", "attrs.a", "args.1", "none", "rets", "ctx.stream"]
    name = register(record, spec)
    results = (jax.ShapeDtypeStruct((2,), jnp.int16), jax.ShapeDtypeStruct((4,), jnp.int8))
    inputs = (X, jnp.zeros((5,), jnp.float64), jnp.zeros((6,), jnp.int32))
    jax.ffi.ffi_call(name, results)(*inputs, a=1)
    assert calls == [
        [
            ((4,), "int8"),
            ((3,), "float32"),
            ((6,), "int32"),
            1,
            ((5,), "float64"),
            None,
            ((2,), "int16"),
            0,
        ]
    ]
