"""``ffi_function`` says which kernel a problem is about.

Generated target names carry the function's own name; attribute values JAX cannot lower are
refused naming the attribute and the target (JAX itself dies with a bare ``std::bad_cast`` or
``OverflowError``); a shape function's own errors name the target and the shapes it was given.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>

void add_one_cpu(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] + 1;
}
"""

X = np.array([1.0, 2.0, 3.0], np.float32)


def _ignore(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
    pass


def _same_shape(x: jax.ShapeDtypeStruct, **attrs: object) -> jax.ShapeDtypeStruct:
    return x


@pytest.fixture(scope="module")
def mod() -> tvm_ffi.Module:
    return tvm_ffi.cpp.load_inline(
        name="ffi_function_messages", cpp_sources=SOURCE, functions=["add_one_cpu"]
    )


def test_a_compiled_kernel_names_its_target(mod: tvm_ffi.Module) -> None:
    f = jax_tvm_ffi.ffi_function(mod.add_one_cpu, lambda x: x)
    assert f.target_name.startswith("jax_tvm_ffi.add_one_cpu")
    np.testing.assert_array_equal(f(X), X + 1)
    # The name is in the HLO a user dumps.
    assert f.target_name in jax.jit(f).lower(X).as_text()


def test_another_function_of_the_same_name_gets_the_next_suffix() -> None:
    def scale(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) * 2

    first = jax_tvm_ffi.ffi_function(scale, lambda x: x)

    def scale(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:  # noqa: F811 - same name, other code
        np.from_dlpack(y)[...] = np.from_dlpack(x) * 3

    second = jax_tvm_ffi.ffi_function(scale, lambda x: x)
    stem = first.target_name
    assert stem.startswith("jax_tvm_ffi.scale")
    assert second.target_name.startswith(stem.split(".")[0] + ".scale.")
    assert second.target_name != first.target_name
    np.testing.assert_array_equal(first(X), X * 2)
    np.testing.assert_array_equal(second(X), X * 3)


def test_the_same_function_again_reuses_its_target_without_a_warning(mod: tvm_ffi.Module) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = jax_tvm_ffi.ffi_function(mod.add_one_cpu, lambda x: x, name="messages.same")
        b = jax_tvm_ffi.ffi_function(mod.add_one_cpu, lambda x: x, name="messages.same")
    assert a.target_name == b.target_name == "messages.same"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (np.uint64(2**63), "is 9223372036854775808, outside the signed 64-bit range"),
        (2**64, "is 18446744073709551616, outside the signed 64-bit range"),
        (-(2**63) - 1, "outside the signed 64-bit range"),
        (1 + 2j, "is a complex number"),
        (np.complex64(1), "is a complex number"),
        (np.zeros(2, np.complex64), "is a complex array"),
        (None, "is None of type NoneType"),
        ([1, 2], "is [1, 2] of type list"),
        ({"inner": np.uint64(2**64 - 1)}, None),
    ],
)
def test_attributes_jax_cannot_lower_are_refused_by_name(
    value: object, problem: str | None
) -> None:
    f = jax_tvm_ffi.ffi_function(_ignore, _same_shape, name="messages.attrs")
    key = "inner" if isinstance(value, dict) else "value"
    expected = (
        f"ffi_function('messages.attrs'): attribute '{'value.' if key == 'inner' else ''}{key}'"
    )
    with pytest.raises(TypeError, match=expected.replace("(", r"\(").replace(")", r"\)")) as info:
        f(X, value=value)
    if problem is not None:
        assert problem in str(info.value)


def test_attributes_jax_lowers_are_accepted() -> None:
    seen = []

    def record(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor, big: int, small: int) -> None:
        seen.append((big, small))
        np.from_dlpack(y)[...] = np.from_dlpack(x)

    f = jax_tvm_ffi.ffi_function(
        record, lambda x, **attrs: x, arg_spec=["args", "rets", "attrs.big", "attrs.small"]
    )
    f(X, big=np.uint64(2**63 - 1), small=-(2**63))
    assert seen == [(2**63 - 1, -(2**63))]


def test_a_shape_function_error_names_the_target_and_its_arguments() -> None:
    def ignore(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        pass

    f = jax_tvm_ffi.ffi_function(
        ignore, lambda x: jax.ShapeDtypeStruct((x.shape[3],), x.dtype), name="messages.shapes"
    )
    with pytest.raises(IndexError) as info:
        f(jnp.zeros((2, 5), jnp.float32))
    message = str(info.value)
    assert "ffi_function('messages.shapes')" in message
    assert "the result_shape_dtypes function failed when called with (float32[2, 5])" in message
    assert "IndexError: tuple index out of range" in message


def test_a_shape_function_that_does_not_take_the_attributes_says_so() -> None:
    def ignore(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        pass

    f = jax_tvm_ffi.ffi_function(ignore, lambda x: x, name="messages.no_attrs")
    with pytest.raises(TypeError) as info:
        f(X, eps=np.float32(0.5))
    message = str(info.value)
    assert "ffi_function('messages.no_attrs')" in message
    assert "called with (float32[3], eps=" in message
    assert "unexpected keyword argument 'eps'" in message
