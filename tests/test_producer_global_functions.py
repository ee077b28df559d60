"""Global functions a C++ library registers in a static block, registered in JAX by name.

A library that registers its functions with tvm::ffi::reflection::GlobalDef inside
TVM_FFI_STATIC_INIT_BLOCK exports nothing by symbol: its functions appear in the global registry
when it is loaded, and the bridge takes their names. (Python globals and the error for an unknown
name with register_ffi_target are covered by test_function_sources.py; ffi_function with a
Python global by test_ffi_function.py.)
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi

PREFIX = "jax_tvm_ffi_test.static_block"

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/reflection/registry.h>

#include <algorithm>

namespace {

using tvm::ffi::TensorView;

void CheckF32(const char* func, const char* arg, TensorView t) {
  if (t.dtype() != DLDataType{kDLFloat, 32, 1}) {
    TVM_FFI_THROW(ValueError) << func << ": " << arg << " must be float32, got " << t.dtype();
  }
}

// y = x * factor + shift
void Affine(TensorView x, TensorView y, double factor, int64_t shift) {
  CheckF32("affine", "x", x);
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = static_cast<float>(in[i] * factor + shift);
}

// The smaller and the larger of x and y, elementwise: two inputs, two outputs.
void MinMax(TensorView x, TensorView y, TensorView lo, TensorView hi) {
  CheckF32("min_max", "x", x);
  CheckF32("min_max", "y", y);
  const float* a = static_cast<const float*>(x.data_ptr());
  const float* b = static_cast<const float*>(y.data_ptr());
  float* l = static_cast<float*>(lo.data_ptr());
  float* h = static_cast<float*>(hi.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) {
    l[i] = std::min(a[i], b[i]);
    h[i] = std::max(a[i], b[i]);
  }
}

}  // namespace

TVM_FFI_STATIC_INIT_BLOCK() {
  namespace refl = tvm::ffi::reflection;
  refl::GlobalDef()
      .def("jax_tvm_ffi_test.static_block.affine", Affine)
      .def("jax_tvm_ffi_test.static_block.min_max", MinMax)
      // A lambda works as well as a named function.
      .def("jax_tvm_ffi_test.static_block.negate", [](TensorView x, TensorView y) {
        CheckF32("negate", "x", x);
        const float* in = static_cast<const float*>(x.data_ptr());
        float* out = static_cast<float*>(y.data_ptr());
        for (int64_t i = 0; i < x.numel(); ++i) out[i] = -in[i];
      });
}
"""

AFFINE = f"{PREFIX}.affine"
MIN_MAX = f"{PREFIX}.min_max"
NEGATE = f"{PREFIX}.negate"
X = jnp.array([[1.0, -2.0, 3.5], [0.0, 4.0, -1.0]], jnp.float32)


TARGET_BEFORE_LOAD = "jax_tvm_ffi_test.static_block_target_before_load"


@dataclass
class StaticLibrary:
    """What loading the library changed: recorded by the fixture, which loads it once."""

    missing_before_load: list[str]  # the library's global names unknown before it was loaded
    error_before_load: ValueError  # from register_ffi_target(TARGET_BEFORE_LOAD, AFFINE)


@pytest.fixture(scope="module")
def library() -> StaticLibrary:
    names = [AFFINE, MIN_MAX, NEGATE]
    missing = [n for n in names if tvm_ffi.get_global_func(n, allow_missing=True) is None]
    with pytest.raises(ValueError) as raised:
        jax_tvm_ffi.register_ffi_target(TARGET_BEFORE_LOAD, AFFINE)
    # The module exports no symbol (functions=None): loading it runs the static block. The module
    # object is not kept; load_inline keeps the library loaded for the process.
    tvm_ffi.cpp.load_inline(name="jax_tvm_ffi_test_static_block", cpp_sources=SOURCE)
    gc.collect()
    return StaticLibrary(missing, raised.value)


def like(x: jax.Array) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(x.shape, x.dtype)


def call(name: str, results: Any, *args: jax.Array, **attrs: Any) -> Any:
    return jax.jit(lambda *a: jax.ffi.ffi_call(name, results)(*a, **attrs))(*args)


def test_loading_the_library_registers_its_globals(library: StaticLibrary) -> None:
    assert library.missing_before_load == [AFFINE, MIN_MAX, NEGATE]
    for name in (AFFINE, MIN_MAX, NEGATE):
        assert isinstance(tvm_ffi.get_global_func(name), tvm_ffi.Function), name


def test_a_name_registered_before_the_library_is_loaded_is_refused(
    library: StaticLibrary,
) -> None:
    message = str(library.error_before_load)
    assert TARGET_BEFORE_LOAD in message and AFFINE in message


def test_register_by_name_with_attributes(library: StaticLibrary, register) -> None:
    name = register(AFFINE, ["args", "rets", "attrs.factor", "attrs.shift"])
    y = call(name, like(X), X, factor=np.float32(0.5), shift=-3)
    np.testing.assert_array_equal(y, np.asarray(X) * 0.5 - 3)


def test_register_by_name_two_inputs_two_outputs(library: StaticLibrary, register) -> None:
    name = register(MIN_MAX)
    other = jnp.flip(X)
    lo, hi = call(name, (like(X), like(X)), X, other)
    np.testing.assert_array_equal(lo, np.minimum(X, other))
    np.testing.assert_array_equal(hi, np.maximum(X, other))


def test_register_a_lambda_by_name(library: StaticLibrary, register) -> None:
    name = register(NEGATE)
    np.testing.assert_array_equal(call(name, like(X), X), -np.asarray(X))


def test_by_name_and_by_function_object_agree(library: StaticLibrary, register) -> None:
    by_name = register(NEGATE, label="by_name")
    by_object = register(tvm_ffi.get_global_func(NEGATE), label="by_object")
    np.testing.assert_array_equal(call(by_name, like(X), X), call(by_object, like(X), X))


def test_error_from_a_global_keeps_kind_and_names_the_target(
    library: StaticLibrary, register
) -> None:
    name = register(NEGATE)
    x = jnp.arange(3, dtype=jnp.int32)
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        np.asarray(call(name, like(x), x))
    message = str(raised.value)
    assert message.startswith("INVALID_ARGUMENT: ")
    assert f"jax_tvm_ffi target '{name}'" in message
    assert "ValueError: negate: x must be float32, got int32" in message


def test_ffi_function_by_name(library: StaticLibrary) -> None:
    affine = jax_tvm_ffi.ffi_function(
        AFFINE, lambda x, **attrs: x, arg_spec=["args", "rets", "attrs.factor", "attrs.shift"]
    )
    y = jax.jit(lambda x: affine(x, factor=2.0, shift=1))(X)
    np.testing.assert_array_equal(y, np.asarray(X) * 2 + 1)
    # The same name and options give the same target: nothing is registered twice.
    count = jax_tvm_ffi.registered_count()
    again = jax_tvm_ffi.ffi_function(
        AFFINE, lambda x, **attrs: x, arg_spec=["args", "rets", "attrs.factor", "attrs.shift"]
    )
    np.testing.assert_array_equal(again(X, factor=2.0, shift=1), y)
    assert again.target_name == affine.target_name
    assert jax_tvm_ffi.registered_count() == count


def test_ffi_function_by_name_with_two_outputs(library: StaticLibrary, unique_name) -> None:
    target = unique_name("min_max")
    min_max = jax_tvm_ffi.ffi_function(MIN_MAX, lambda x, y: (x, x), name=target, platform="cpu")
    assert min_max.target_name == target
    lo, hi = jax.jit(min_max)(X, 2 * X)
    np.testing.assert_array_equal(lo, np.minimum(X, 2 * X))
    np.testing.assert_array_equal(hi, np.maximum(X, 2 * X))


def test_ffi_function_unknown_name_in_the_library_namespace(library: StaticLibrary) -> None:
    missing = f"{PREFIX}.not_defined_by_the_block"
    with pytest.raises(ValueError) as raised:
        jax_tvm_ffi.ffi_function(missing, lambda x: x)
    assert missing in str(raised.value)
    assert "ffi_function" in str(raised.value)


def test_ffi_function_unknown_name_names_the_given_target(library: StaticLibrary) -> None:
    missing = f"{PREFIX}.not_defined_by_the_block"
    with pytest.raises(ValueError) as raised:
        jax_tvm_ffi.ffi_function(missing, lambda x: x, name="jax_tvm_ffi_test.wanted_target")
    assert "ffi_function(name='jax_tvm_ffi_test.wanted_target')" in str(raised.value)
    assert f"no TVM FFI global function is named '{missing}'" in str(raised.value)
