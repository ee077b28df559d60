"""Functions compiled by Apache TVM (``apache-tvm``: TE → TensorIR → LLVM) as targets.

Skipped unless the ``tvm`` extra is installed; the export tests also need a C++ compiler,
which ``export_library`` links with. See examples/tvm_compiled_kernel.py.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi

tvm = pytest.importorskip("tvm", reason="the tvm extra is not installed: pip install '.[tvm]'")
te = tvm.te

needs_compiler = pytest.mark.skipif(
    shutil.which(shlex.split(os.environ.get("CXX", "g++"))[0]) is None,
    reason="export_library links with a C++ compiler ($CXX, default g++) and none is on the PATH",
)


def named_module(name: str, func: Any) -> tvm.IRModule:
    """An IRModule holding ``func`` as the exported function ``name``."""
    return tvm.IRModule({name: func.with_attr("global_symbol", name)})


def scaled_add(dtype: str = "float32") -> tvm.IRModule:
    """``C = A * 2 + B`` over vectors of a symbolic length ``n``."""
    n = te.var("n")
    a = te.placeholder((n,), dtype, name="A")
    b = te.placeholder((n,), dtype, name="B")
    c = te.compute((n,), lambda i: a[i] * tvm.tirx.const(2, dtype) + b[i], name="C")
    return named_module("scaled_add", te.create_prim_func([a, b, c]))


def row_sum() -> tvm.IRModule:
    """``S[i] = sum_j A[i, j]`` over an ``n × m`` float32 matrix: a reduction, a smaller result."""
    n, m = te.var("n"), te.var("m")
    a = te.placeholder((n, m), "float32", name="A")
    j = te.reduce_axis((0, m), name="j")
    s = te.compute((n,), lambda i: te.sum(a[i, j], axis=j), name="S")
    return named_module("row_sum", te.create_prim_func([a, s]))


def parallel_triple() -> tvm.IRModule:
    """``C = A * 3`` over float32 vectors: a parallel outer loop, a vectorized inner one."""
    n = te.var("n")
    a = te.placeholder((n,), "float32", name="A")
    c = te.compute((n,), lambda i: a[i] * 3.0, name="C")
    sch = tvm.s_tir.Schedule(named_module("triple", te.create_prim_func([a, c])))
    (loop,) = sch.get_loops(sch.get_sblock("C", func_name="triple"))
    outer, inner = sch.split(loop, factors=[None, 64])
    sch.parallel(outer)
    sch.vectorize(inner)
    return sch.mod


def call(name: str, *args: jax.Array, shape: tuple[int, ...] | None = None) -> jax.Array:
    """Calls ``name`` under jit; the result is shaped like the first argument unless given."""
    first = args[0]
    result = jax.ShapeDtypeStruct(first.shape if shape is None else shape, first.dtype)
    return jax.jit(lambda *xs: jax.ffi.ffi_call(name, result)(*xs))(*args)


@pytest.fixture(scope="module")
def compiled() -> Any:
    """``scaled_add`` compiled for the LLVM CPU target, once per module."""
    return tvm.compile(scaled_add(), target="llvm")


def test_compiled_function_is_a_tvm_ffi_function(compiled: Any) -> None:
    assert isinstance(compiled["scaled_add"], tvm_ffi.Function)


@pytest.mark.parametrize("n", [0, 1, 7, 10_000])
def test_symbolic_shape_under_jit(compiled: Any, register, n: int) -> None:
    name = register(compiled["scaled_add"], platform="cpu")
    a = jnp.arange(n, dtype=jnp.float32)
    b = jnp.full((n,), 0.25, jnp.float32)
    np.testing.assert_allclose(call(name, a, b), np.asarray(a) * 2 + 0.25)


def test_float64(register) -> None:
    name = register(tvm.compile(scaled_add("float64"), target="llvm")["scaled_add"])
    a = jnp.linspace(-1, 1, 9, dtype=jnp.float64)
    np.testing.assert_array_equal(call(name, a, a), np.asarray(a) * 3)


def test_scalar_parameters_from_attributes(register) -> None:
    # TIR scalar parameters (a float32 and an int32) are fed from XLA attributes.
    n = te.var("n")
    scale, shift = te.var("scale", "float32"), te.var("shift", "int32")
    a = te.placeholder((n,), "float32", name="A")
    c = te.compute((n,), lambda i: a[i] * scale + shift.astype("float32"), name="C")
    module = named_module("affine", te.create_prim_func([a, c, scale, shift]))
    name = register(
        tvm.compile(module, target="llvm")["affine"], ["args", "rets", "attrs.scale", "attrs.shift"]
    )
    x = jnp.arange(5, dtype=jnp.float32)
    y = jax.jit(
        lambda v: jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(v.shape, v.dtype))(
            v, scale=np.float32(1.5), shift=np.int32(-2)
        )
    )(x)
    np.testing.assert_array_equal(y, np.asarray(x) * 1.5 - 2)


def test_reduction_with_ffi_function_under_vmap() -> None:
    row_sum_fn = jax_tvm_ffi.ffi_function(
        tvm.compile(row_sum(), target="llvm")["row_sum"],
        lambda x: jax.ShapeDtypeStruct(x.shape[:1], x.dtype),
    )
    x = jnp.arange(24, dtype=jnp.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(jax.jit(jax.vmap(row_sum_fn))(x), np.asarray(x).sum(axis=-1))


def test_parallel_schedule_uses_tvm_thread_pool(register) -> None:
    # The parallel loop runs on TVM's thread pool, launched from the thread XLA calls us on.
    name = register(tvm.compile(parallel_triple(), target="llvm")["triple"])
    a = jnp.arange(100_003, dtype=jnp.float32)
    f = jax.jit(lambda x: jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype))(x))
    for _ in range(20):
        np.testing.assert_array_equal(f(a), np.asarray(a) * 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((jnp.zeros(4, jnp.float32), jnp.zeros(4, jnp.float64)), r"Mismatched B\.dtype"),
        ((jnp.zeros(4, jnp.float32), jnp.zeros(3, jnp.float32)), r"Mismatched B\.shape\[0\]"),
        ((jnp.zeros((2, 2), jnp.float32), jnp.zeros((2, 2), jnp.float32)), r"Mismatched A\.ndim"),
    ],
)
def test_tvm_argument_checks_fail_the_call(
    compiled: Any, unique_name, args: tuple[jax.Array, ...], message: str
) -> None:
    name = unique_name()
    jax_tvm_ffi.register_ffi_target(name, compiled["scaled_add"], platform="cpu")
    with pytest.raises(jax.errors.JaxRuntimeError, match=message) as info:
        call(name, *args).block_until_ready()
    assert name in str(info.value)


@needs_compiler
def test_exported_library(compiled: Any, register, tmp_path: Path) -> None:
    path = tmp_path / "scaled_add.so"
    compiled.export_library(str(path))
    name = register(tvm_ffi.load_module(str(path)).scaled_add)
    a = jnp.arange(5, dtype=jnp.float32)
    np.testing.assert_allclose(call(name, a, a), np.asarray(a) * 3)


@needs_compiler
def test_exported_library_runs_without_tvm(compiled: Any, tmp_path: Path) -> None:
    # The exported library needs only the TVM FFI runtime: a process that never imports tvm
    # loads it with tvm_ffi and calls it through the bridge. (Kernels with parallel loops are
    # the exception: they call TVM's thread pool, so that process must import tvm first.)
    path = tmp_path / "scaled_add.so"
    compiled.export_library(str(path))
    code = textwrap.dedent(
        f"""
        import sys
        import jax, jax.numpy as jnp, numpy as np, tvm_ffi, jax_tvm_ffi
        function = tvm_ffi.load_module({str(path)!r}).scaled_add
        jax_tvm_ffi.register_ffi_target("exported.scaled_add", function, platform="cpu")
        a = jnp.arange(6, dtype=jnp.float32)
        c = jax.jit(lambda a, b: jax.ffi.ffi_call(
            "exported.scaled_add", jax.ShapeDtypeStruct(a.shape, a.dtype))(a, b))(a, a)
        np.testing.assert_allclose(c, np.asarray(a) * 3)
        assert "tvm" not in sys.modules, "tvm was imported"
        print("ran without tvm")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ran without tvm"
