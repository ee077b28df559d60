"""Attributes: matched by name, decoded into natural Python / C++ values."""

from __future__ import annotations

import re
import sys
from typing import Any

import jax
import jax.experimental
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import tvm_ffi

X = jnp.array([1.0, 2.0, 3.0], jnp.float32)


class HashableDict(dict):
    """A dict JAX accepts nested inside an ffi_call keyword: jax needs attributes hashable."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


def attr_recorder(register, names: list[str]) -> tuple[str, list[dict[str, Any]]]:
    """Registers a Python function receiving the named attributes; returns (target, calls)."""
    calls: list[dict[str, Any]] = []

    def record(*values: Any) -> None:
        calls.append(dict(zip(names, values, strict=True)))

    name = register(record, [f"attrs.{n}" for n in names])
    return name, calls


def call_with_attrs(name: str, **attrs: Any) -> None:
    jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((1,), jnp.int8), has_side_effect=True)(X, **attrs)


def received(register, value: Any, attr: str = "value") -> Any:
    name, calls = attr_recorder(register, [attr])
    call_with_attrs(name, **{attr: value})
    assert len(calls) == 1
    return calls[0][attr]


# Dictionary attributes use their own attribute name, "config": JAX (0.10) caches abstract
# evaluation across ffi_calls and may compare one call's attribute values with another's; a NumPy
# scalar compared with a dict raises inside JAX, at random (it depends on garbage collection).
DICT_ATTR = "config"


# Matching by name.


def test_call_order_of_attributes_is_irrelevant(register) -> None:
    name, calls = attr_recorder(register, ["zeta", "alpha", "mid"])
    call_with_attrs(name, alpha=np.int32(1), mid="m", zeta=2.5)
    call_with_attrs(name, mid="m", zeta=2.5, alpha=np.int32(1))
    assert calls == [{"zeta": 2.5, "alpha": 1, "mid": "m"}] * 2


def test_spec_order_decides_the_argument_order(register) -> None:
    seen: list[tuple[Any, ...]] = []
    name = register(lambda *values: seen.append(values), ["attrs.b", "attrs.c", "attrs.a"])
    call_with_attrs(name, a=np.int64(1), b=np.int64(2), c=np.int64(3))
    assert seen == [(2, 3, 1)]


def test_missing_attribute_names_attribute_and_target(register) -> None:
    name, calls = attr_recorder(register, ["eps", "mode"])
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        call_with_attrs(name, mode="fast")
    message = str(raised.value)
    assert message.startswith("INVALID_ARGUMENT: ")
    assert "missing attribute 'eps'" in message
    assert name in message
    assert calls == []


def test_extra_attribute_names_attribute_and_target(register) -> None:
    name, calls = attr_recorder(register, ["eps"])
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        call_with_attrs(name, eps=1.0, extra_knob=np.int32(3))
    message = str(raised.value)
    assert "unexpected attribute 'extra_knob'" in message
    assert name in message
    assert calls == []


def test_attribute_passed_to_a_target_without_attributes_is_an_error(
    kernels: tvm_ffi.Module, register
) -> None:
    name = register(kernels.add_one_f32)
    with pytest.raises(jax.errors.JaxRuntimeError, match=re.escape(name)) as raised:
        jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(X.shape, X.dtype))(X, eps=1.0)
    assert "'eps'" in str(raised.value)


def test_attribute_names_that_prefix_each_other(register) -> None:
    name, calls = attr_recorder(register, ["a", "ab", "a_b", "abc"])
    call_with_attrs(name, abc="3", a_b="2", ab="1", a="0")
    assert calls == [{"a": "0", "ab": "1", "a_b": "2", "abc": "3"}]


# Values.

SCALARS = [
    pytest.param(True, True, id="bool-true"),
    pytest.param(False, False, id="bool-false"),
    pytest.param(np.bool_(True), True, id="np.bool_"),
    pytest.param(np.int8(-128), -128, id="int8"),
    pytest.param(np.int16(-32768), -32768, id="int16"),
    pytest.param(np.int32(-(2**31)), -(2**31), id="int32"),
    pytest.param(np.int64(-(2**63)), -(2**63), id="int64-min"),
    pytest.param(np.int64(2**63 - 1), 2**63 - 1, id="int64-max"),
    pytest.param(np.uint8(255), 255, id="uint8"),
    pytest.param(np.uint16(65535), 65535, id="uint16"),
    pytest.param(np.uint32(2**32 - 1), 2**32 - 1, id="uint32"),
    pytest.param(np.uint64(2**63 - 1), 2**63 - 1, id="uint64"),
    pytest.param(7, 7, id="python-int"),
    pytest.param(-(2**40), -(2**40), id="python-int-wide"),
    pytest.param(1.5, 1.5, id="python-float"),
    pytest.param(0.1, 0.1, id="python-float-inexact"),
    pytest.param(np.float32(0.1), float(np.float32(0.1)), id="float32"),
    pytest.param(np.float32(-3.25e38), float(np.float32(-3.25e38)), id="float32-large"),
    pytest.param(np.float64(0.1), 0.1, id="float64"),
    pytest.param(np.float64(1e-300), 1e-300, id="float64-tiny"),
    pytest.param(float("inf"), float("inf"), id="inf"),
]


@pytest.mark.parametrize(("value", "expected"), SCALARS)
def test_scalar_attribute_arrives_as_exact_python_value(
    register, value: Any, expected: Any
) -> None:
    got = received(register, value)
    assert type(got) is type(expected)
    assert got == expected


def test_nan_attribute_arrives_as_nan(register) -> None:
    got = received(register, np.float64("nan"))
    assert isinstance(got, float) and got != got


def test_python_scalars_in_default_32_bit_mode(register) -> None:
    # DESIGN: a Python float may arrive as f32 or f64 depending on the JAX version.
    # jax.enable_x64 since 0.7 (jax.experimental.enable_x64, removed in 0.12, before).
    x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64
    with x64(False):
        got_float = received(register, 0.1)
        got_int = received(register, -7)
    assert type(got_float) is float and got_float in (0.1, float(np.float32(0.1)))
    assert type(got_int) is int and got_int == -7


@pytest.mark.parametrize(
    "value",
    [np.float16(0.5), ml_dtypes.bfloat16(1.25)],
    ids=["float16", "bfloat16"],
)
def test_half_precision_scalar_arrives_exactly_or_is_refused_by_xla(register, value: Any) -> None:
    # XLA (jaxlib 0.10) refuses F16/BF16 scalar attributes before any handler runs; the core
    # decodes them should XLA start passing them. Either way the value must never be altered.
    name, calls = attr_recorder(register, ["value"])
    try:
        call_with_attrs(name, value=value)
    except jax.errors.JaxRuntimeError as error:
        assert "Unsupported float attribute bit width" in str(error)
        assert calls == []
    else:
        assert calls == [{"value": float(value)}]
        assert type(calls[0]["value"]) is float


@pytest.mark.parametrize(
    "value",
    ["", "fast", "héllo, wörld ✓", "a" * 1000, "with\nnewline"],
    ids=["empty", "short", "unicode", "long", "newline"],
)
def test_string_attribute_arrives_as_str(register, value: str) -> None:
    got = received(register, value)
    assert isinstance(got, str)  # tvm_ffi returns long strings as its str subclass String
    assert got == value


ARRAY_DTYPES = [
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float32,
    np.float64,
]


@pytest.mark.parametrize("dtype", ARRAY_DTYPES, ids=lambda d: np.dtype(d).name)
def test_array_attribute_arrives_as_tvm_array(register, dtype: Any) -> None:
    values = np.array([0, 1, 100, 7], dtype)
    if np.issubdtype(dtype, np.floating):
        values = np.array([0.5, -1.25, 1e30, 7], dtype)
    elif np.issubdtype(dtype, np.signedinteger):
        values = np.array([np.iinfo(dtype).min, -1, np.iinfo(dtype).max, 7], dtype)
    got = received(register, values)
    assert isinstance(got, tvm_ffi.Array)
    expected = [v.item() for v in values]
    assert list(got) == expected
    element_type = float if np.issubdtype(dtype, np.floating) else int
    assert all(type(v) is element_type for v in got)


def test_empty_array_attribute(register) -> None:
    got = received(register, np.array([], np.int32))
    assert isinstance(got, tvm_ffi.Array)
    assert len(got) == 0


def test_uint64_attribute_beyond_int64_is_an_error_naming_it(register) -> None:
    name, calls = attr_recorder(register, ["big"])
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        call_with_attrs(name, big=np.array([1, 2**64 - 1], np.uint64))
    message = str(raised.value)
    assert "'big'" in message and "18446744073709551615" in message and name in message
    assert calls == []


def test_flat_dict_attribute_arrives_as_tvm_map(register) -> None:
    value = {"n": 3, "s": "str", "f": 0.25, "b": True, "i8": np.int8(-4)}
    got = received(register, value, DICT_ATTR)
    assert isinstance(got, tvm_ffi.Map)
    assert dict(got) == {"n": 3, "s": "str", "f": 0.25, "b": True, "i8": -4}
    assert type(got["b"]) is bool and type(got["n"]) is int and type(got["f"]) is float


def test_empty_dict_attribute(register) -> None:
    got = received(register, {}, DICT_ATTR)
    assert isinstance(got, tvm_ffi.Map)
    assert len(got) == 0


def test_nested_dict_attribute_arrives_as_nested_maps(register) -> None:
    # jax.ffi.ffi_call needs hashable keywords: it wraps a top-level dict itself, and a nested
    # one must already be hashable (jax's own FrozenDict has no MLIR attribute handler).
    value = {
        "outer": 1,
        "inner": HashableDict({"x": 2.5, "deeper": HashableDict({"name": "leaf"})}),
    }
    got = received(register, value, DICT_ATTR)
    assert isinstance(got, tvm_ffi.Map)
    inner = got["inner"]
    assert isinstance(inner, tvm_ffi.Map)
    assert got["outer"] == 1
    assert inner["x"] == 2.5
    assert inner["deeper"]["name"] == "leaf"


def test_cpp_kernel_takes_double_int64_bool_and_string(kernels: tvm_ffi.Module, register) -> None:
    spec = ["args", "rets", "attrs.scale", "attrs.offset", "attrs.negate", "attrs.mode"]
    name = register(kernels.affine_attrs, spec)

    def run(x: jax.Array, **attrs: Any) -> jax.Array:
        return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype))(x, **attrs)

    out = jax.jit(lambda x: run(x, mode="affine", negate=False, offset=3, scale=0.5))(X)
    np.testing.assert_array_equal(out, X * 0.5 + 3)
    out = run(X, scale=np.float32(2.0), offset=np.int32(-1), negate=True, mode="affine")
    np.testing.assert_array_equal(out, -(X * 2 - 1))
    with pytest.raises(jax.errors.JaxRuntimeError, match="unknown mode 'slow'"):
        run(X, scale=1.0, offset=0, negate=False, mode="slow")


def test_cpp_kernel_with_mistyped_attribute_is_an_error(kernels: tvm_ffi.Module, register) -> None:
    spec = ["args", "rets", "attrs.scale", "attrs.offset", "attrs.negate", "attrs.mode"]
    name = register(kernels.affine_attrs, spec)
    with pytest.raises(jax.errors.JaxRuntimeError, match=re.escape(name)):
        jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(X.shape, X.dtype))(
            X, scale=1.0, offset="not-an-int", negate=False, mode="affine"
        )


def test_cpp_kernel_takes_an_array_attribute(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.sum_array_attr, ["rets", "attrs.values"])
    out = jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((1,), jnp.int64))(
        values=np.array([1, 2, 3, 2**40], np.int64)
    )
    assert int(out[0]) == 6 + 2**40


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_attribute_decoding_does_not_leak(kernels: tvm_ffi.Module, register) -> None:
    # Each call decodes a 4096-element array attribute (~64 KiB as TVM FFI values); 3000 calls
    # would hold ~200 MiB if decoded attributes were never released.
    name = register(kernels.sum_array_attr, ["rets", "attrs.values"])
    values = np.arange(4096, dtype=np.int64)
    run = jax.jit(
        lambda: jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((1,), jnp.int64))(values=values)
    )
    for _ in range(200):
        run().block_until_ready()
    before = _resident_bytes()
    for _ in range(3000):
        out = run()
    out.block_until_ready()
    growth = _resident_bytes() - before
    assert int(out[0]) == int(values.sum())
    assert growth < 64 * 2**20, f"resident memory grew by {growth / 2**20:.0f} MiB"
