"""Functions from object files linked by LLVM ORC JIT (``apache-tvm-ffi-orcjit``) as targets.

Skipped unless the ``orcjit`` extra is installed and a C++ compiler (``$CXX``, default ``g++``)
is on the PATH. See examples/orcjit_kernel.py.
"""

from __future__ import annotations

import gc
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi

orcjit = pytest.importorskip(
    "tvm_ffi_orcjit", reason="the orcjit extra is not installed: pip install '.[orcjit]'"
)

CXX = os.environ.get("CXX", "g++")

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

using tvm::ffi::TensorView;

// y = x + ADDEND, for a float32 vector.
void AddConstant(TensorView x, TensorView y) {
  TVM_FFI_ICHECK(x.ndim() == 1) << "x must be a 1-D tensor";
  TVM_FFI_ICHECK(x.dtype() == DLDataType({kDLFloat, 32, 1})) << "x must be float32";
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.size(0); ++i) out[i] = in[i] + ADDEND;
}

// y = x * scale + shift, any shape.
void ScaleShift(TensorView x, TensorView y, double scale, double shift) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = static_cast<float>(in[i] * scale + shift);
}

TVM_FFI_DLL_EXPORT_TYPED_FUNC(add_constant, AddConstant);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(scale_shift, ScaleShift);
"""


@pytest.fixture(scope="module")
def compile_object(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """Compiles SOURCE with a given ADDEND to an object file; each ADDEND once per module."""
    if shutil.which(shlex.split(CXX)[0]) is None:
        pytest.skip(f"no C++ compiler: {CXX!r} is not on the PATH")
    directory = tmp_path_factory.mktemp("orcjit")
    source = directory / "kernel.cc"
    source.write_text(SOURCE)
    includes = {tvm_ffi.libinfo.find_include_path(), tvm_ffi.libinfo.find_dlpack_include_path()}
    objects: dict[int, Path] = {}

    def compile_with(addend: int) -> Path:
        if addend not in objects:
            obj = directory / f"kernel_{addend}.o"
            subprocess.run(
                [*shlex.split(CXX), "-std=c++17", "-O2", "-fPIC", "-c", str(source)]
                + [f"-I{path}" for path in sorted(includes)]
                + [f"-DADDEND={addend}", "-o", str(obj)],
                check=True,
            )
            objects[addend] = obj
        return objects[addend]

    return compile_with


@pytest.fixture(scope="module")
def module(compile_object: Callable[[int], Path]) -> tvm_ffi.Module:
    """The kernels with ADDEND=1, loaded into the process-wide ORC JIT session."""
    return orcjit.default_session().load_module(compile_object(1), cxx=CXX)


def call(name: str, x: jax.Array, **attrs: Any) -> jax.Array:
    return jax.jit(
        lambda v: jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(v.shape, v.dtype))(v, **attrs)
    )(x)


def test_loaded_function_is_a_tvm_ffi_function(module: tvm_ffi.Module) -> None:
    assert isinstance(module, tvm_ffi.Module)
    assert isinstance(module.add_constant, tvm_ffi.Function)


@pytest.mark.parametrize("n", [0, 1, 5, 4097])
def test_object_function_under_jit(module: tvm_ffi.Module, register, n: int) -> None:
    name = register(module.add_constant, platform="cpu")
    x = jnp.arange(n, dtype=jnp.float32)
    np.testing.assert_array_equal(call(name, x), np.asarray(x) + 1)


def test_attributes(module: tvm_ffi.Module, register) -> None:
    name = register(module.scale_shift, ["args", "rets", "attrs.scale", "attrs.shift"])
    x = jnp.arange(12, dtype=jnp.float32).reshape(3, 4)
    np.testing.assert_array_equal(call(name, x, scale=2.0, shift=-1.0), np.asarray(x) * 2 - 1)


def test_ffi_function_under_vmap(module: tvm_ffi.Module) -> None:
    scale_shift = jax_tvm_ffi.ffi_function(
        module.scale_shift,
        lambda x, **attrs: x,
        arg_spec=["args", "rets", "attrs.scale", "attrs.shift"],
        vmap_method="broadcast_all",
    )
    x = jnp.arange(6, dtype=jnp.float32).reshape(2, 3)
    y = jax.jit(jax.vmap(lambda row: scale_shift(row, scale=0.5, shift=3.0)))(x)
    np.testing.assert_array_equal(y, np.asarray(x) * 0.5 + 3)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (jnp.zeros((2, 2), jnp.float32), "x must be a 1-D tensor"),
        (jnp.zeros(3, jnp.float64), "x must be float32"),
    ],
)
def test_kernel_check_fails_the_call(
    module: tvm_ffi.Module, unique_name, x: jax.Array, message: str
) -> None:
    name = unique_name()
    jax_tvm_ffi.register_ffi_target(name, module.add_constant, platform="cpu")
    # A C++ exception thrown in JIT-linked code is caught there and reaches JAX as an error.
    with pytest.raises(jax.errors.JaxRuntimeError, match=message) as info:
        call(name, x).block_until_ready()
    assert name in str(info.value)


def test_same_symbol_in_two_modules(compile_object: Callable[[int], Path], register) -> None:
    # Each load_module is its own symbol namespace: two add_constant's, two targets.
    session = orcjit.default_session()
    names = {
        addend: register(session.load_module(compile_object(addend), cxx=CXX).add_constant)
        for addend in (10, 20)
    }
    x = jnp.arange(4, dtype=jnp.float32)
    for addend, name in names.items():
        np.testing.assert_array_equal(call(name, x), np.asarray(x) + addend)


def test_registry_keeps_jit_code_alive(compile_object: Callable[[int], Path], register) -> None:
    # An isolated session, an in-memory object, and no reference kept to either: the
    # registered function must keep the JIT-linked code mapped.
    def register_from_bytes() -> str:
        session = orcjit.ExecutionSession()
        mod = session.load_module(compile_object(30).read_bytes(), cxx=CXX)
        return register(mod.add_constant)

    name = register_from_bytes()
    gc.collect()
    x = jnp.arange(3, dtype=jnp.float32)
    for _ in range(3):
        np.testing.assert_array_equal(call(name, x), np.asarray(x) + 30)
