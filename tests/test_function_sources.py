"""Every kind of function a target can be made from, and the wrong kinds."""

from __future__ import annotations

import functools
import gc
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi

DATA_DIR = Path(__file__).parent / "data"
X = jnp.array([1.0, 2.0, 3.0], jnp.float32)


def call(name: str, x: jax.Array = X, **attrs: Any) -> jax.Array:
    return jax.jit(
        lambda v: jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(v.shape, v.dtype))(v, **attrs)
    )(x)


def add_ten(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
    np.from_dlpack(y)[...] = np.from_dlpack(x) + 10


class AddConstant:
    def __init__(self, constant: float) -> None:
        self.constant = constant

    def __call__(self, x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) + self.constant

    def method(self, x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) - self.constant


def add_value(value: float, x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
    np.from_dlpack(y)[...] = np.from_dlpack(x) + value


PYTHON_FUNCTIONS: list[Any] = [
    pytest.param(add_ten, X + 10, id="function"),
    pytest.param(lambda x, y: add_ten(x, y), X + 10, id="lambda"),
    pytest.param(AddConstant(4), X + 4, id="callable-object"),
    pytest.param(AddConstant(4).method, X - 4, id="bound-method"),
    pytest.param(functools.partial(add_value, 0.5), X + 0.5, id="partial"),
]


@pytest.mark.parametrize(("function", "expected"), PYTHON_FUNCTIONS)
def test_python_callables(register, function: Callable[..., None], expected: jax.Array) -> None:
    name = register(function)
    np.testing.assert_array_equal(call(name), expected)


def test_registry_keeps_a_python_function_alive(register) -> None:
    name = register(AddConstant(2))  # no other reference to the object exists
    gc.collect()
    np.testing.assert_array_equal(call(name), X + 2)


def test_load_inline_function(kernels: tvm_ffi.Module, register) -> None:
    assert isinstance(kernels.add_one_f32, tvm_ffi.Function)
    name = register(kernels.add_one_f32)
    np.testing.assert_array_equal(call(name), X + 1)


def test_registry_keeps_an_inline_function_alive(register) -> None:
    source = textwrap.dedent(
        """
        #include <tvm/ffi/container/tensor.h>
        void negate_f32(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
          const float* in = static_cast<const float*>(x.data_ptr());
          float* out = static_cast<float*>(y.data_ptr());
          for (int64_t i = 0; i < x.numel(); ++i) out[i] = -in[i];
        }
        """
    )
    module = tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_test_negate", cpp_sources=source, functions=["negate_f32"]
    )
    name = register(module.negate_f32)
    del module
    gc.collect()
    np.testing.assert_array_equal(call(name), -X)


@pytest.fixture(scope="module")
def built_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build_directory = tmp_path_factory.mktemp("built_library")
    # cpp_files= is the keyword every supported tvm-ffi accepts: 0.1.8 has no sources= (newer
    # releases added it and keep cpp_files as its alias).
    path = tvm_ffi.cpp.build(
        name="jax_tvm_ffi_test_built",
        cpp_files=[str(DATA_DIR / "built_library.cc")],
        build_directory=str(build_directory),
    )
    return Path(path)


def test_function_from_a_built_shared_library(built_library: Path, register) -> None:
    assert built_library.is_file()
    module = tvm_ffi.load_module(str(built_library))
    name = register(module.scale_by_three, ["args", "rets", "attrs.bias"])
    np.testing.assert_array_equal(call(name, bias=np.float64(0.5)), 3 * X + 0.5)


@pytest.fixture
def global_name(unique_name: Callable[[str], str]) -> str:
    name = unique_name("global")
    tvm_ffi.register_global_func(name, add_ten)
    return name


def test_global_function_object(register, global_name: str) -> None:
    function = tvm_ffi.get_global_func(global_name)
    assert isinstance(function, tvm_ffi.Function)
    # A Python-backed tvm_ffi.Function looks like any other Function to the bridge, so it asks
    # for owned tensors itself.
    name = register(function, pass_owned_tensor=True)
    np.testing.assert_array_equal(call(name), X + 10)


def test_global_function_by_name(register, global_name: str) -> None:
    name = register(global_name, pass_owned_tensor=True)
    np.testing.assert_array_equal(call(name), X + 10)


def test_cpp_global_function_by_name(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str], register
) -> None:
    global_name = unique_name("cpp_global")
    tvm_ffi.register_global_func(global_name, kernels.add_one_f32)
    name = register(global_name)
    np.testing.assert_array_equal(call(name), X + 1)


def test_converted_python_function(register) -> None:
    name = register(tvm_ffi.convert(add_ten), pass_owned_tensor=True)
    np.testing.assert_array_equal(call(name), X + 10)


CRASH_SCRIPT = """
import jax, jax.numpy as jnp, numpy as np, tvm_ffi, jax_tvm_ffi

def add_ten(x, y):
    np.from_dlpack(y)[...] = np.from_dlpack(x) + 10

tvm_ffi.register_global_func("jax_tvm_ffi_subprocess.add_ten", add_ten)
source = {source!r}
if source == "by-name":
    function = "jax_tvm_ffi_subprocess.add_ten"
elif source == "global-object":
    function = tvm_ffi.get_global_func("jax_tvm_ffi_subprocess.add_ten")
else:
    function = tvm_ffi.convert(add_ten)
jax_tvm_ffi.register_ffi_target("subprocess.add_ten", function)
x = jnp.array([1.0, 2.0, 3.0], jnp.float32)
try:
    y = jax.ffi.ffi_call("subprocess.add_ten", jax.ShapeDtypeStruct(x.shape, x.dtype))(x)
    print("RESULT", np.asarray(y).tolist())
except Exception as error:
    print("ERROR", type(error).__name__, str(error).splitlines()[0])
"""


@pytest.mark.parametrize("source", ["by-name", "global-object", "converted"])
def test_python_backed_tvm_function_without_owned_tensors_never_crashes(source: str) -> None:
    # Without pass_owned_tensor, a Python function behind a tvm_ffi.Function gets borrowed
    # views; exporting one with DLPack must work or fail with an error, never kill the process.
    result = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT.format(source=source)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"the process died with code {result.returncode}:\n{result.stderr[-2000:]}"
    )
    assert "RESULT [11.0, 12.0, 13.0]" in result.stdout or "ERROR" in result.stdout


@pytest.mark.parametrize("function", [None, 42, 3.5, b"bytes", ["list"]], ids=repr)
def test_wrong_function_type_is_a_type_error_naming_the_target(
    unique_name: Callable[[str], str], function: Any
) -> None:
    name = unique_name()
    before = jax_tvm_ffi.registered_count()
    with pytest.raises(TypeError) as raised:
        jax_tvm_ffi.register_ffi_target(name, function)
    assert name in str(raised.value)
    assert type(function).__name__ in str(raised.value)
    assert jax_tvm_ffi.registered_count() == before


def test_unknown_global_name_is_a_value_error(unique_name: Callable[[str], str]) -> None:
    name = unique_name()
    with pytest.raises(ValueError) as raised:
        jax_tvm_ffi.register_ffi_target(name, "jax_tvm_ffi_test.no_such_global_function")
    assert name in str(raised.value)
    assert "jax_tvm_ffi_test.no_such_global_function" in str(raised.value)
