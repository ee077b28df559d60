"""examples/aot_library, a CMake kernel project built ahead of time, works from jax.jit.

The module fixture configures and builds the project from scratch with CMake (and ninja when it
is on PATH) against the tvm_ffi CMake package, as a kernel author's users would; each test then
registers the library's exported functions and checks what they compute and how they fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

SOURCE_DIR = Path(__file__).resolve().parent.parent / "examples" / "aot_library"
EXPORTED = ["add_one", "scale", "clamp_i32", "row_sum_max", "row_argmax"]


def run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("cmake") is None:
        pytest.skip("cmake not found")
    build_dir = tmp_path_factory.mktemp("aot_library")
    cmake_dir = run([sys.executable, "-m", "tvm_ffi.config", "--cmakedir"])
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run(
        ["cmake", "-S", str(SOURCE_DIR), "-B", str(build_dir), *generator]
        + [f"-Dtvm_ffi_DIR={cmake_dir}", f"-DPython_EXECUTABLE={sys.executable}"]
    )
    run(["cmake", "--build", str(build_dir), "--config", "Release"])
    (path,) = build_dir.rglob("aot_kernels.so")
    return path


@pytest.fixture(scope="module")
def module(library: Path) -> tvm_ffi.Module:
    return tvm_ffi.load_module(str(library))


def call(name: str, results: Any, *args: jax.Array, **attrs: Any) -> Any:
    return jax.jit(lambda *a: jax.ffi.ffi_call(name, results)(*a, **attrs))(*args)


def like(x: jax.Array) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(x.shape, x.dtype)


def rows(x: jax.Array, dtype: Any) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(x.shape[:1], dtype)


def test_the_library_exports_every_function(library: Path, module: tvm_ffi.Module) -> None:
    assert library.name == "aot_kernels.so"  # no "lib" prefix: the project sets PREFIX ""
    for name in EXPORTED:
        assert isinstance(getattr(module, name), tvm_ffi.Function), name


def test_the_build_exports_only_the_entry_points(library: Path) -> None:
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm not found")
    symbols = run([nm, "-D", "--defined-only", str(library)]).split()
    entry_points = sorted(s for s in symbols if s.startswith("__tvm_ffi_"))
    assert entry_points == sorted(f"__tvm_ffi_{name}" for name in EXPORTED)
    # -fvisibility=hidden: no kernel implementation leaks out of the library.
    assert not any("aot_kernels" in s for s in symbols)


@pytest.mark.parametrize(
    "shape", [(5,), (2, 3), (2, 0, 4), ()], ids=["1d", "2d", "empty", "scalar"]
)
def test_add_one(module: tvm_ffi.Module, register, shape: tuple[int, ...]) -> None:
    name = register(module.add_one)
    x = jnp.arange(int(np.prod(shape)), dtype=jnp.float32).reshape(shape)
    np.testing.assert_array_equal(call(name, like(x), x), np.asarray(x) + 1)


@pytest.mark.parametrize("factor", [0.5, -3.0, np.float32(2.5), np.float64(1e-3), 4])
def test_scale_takes_a_float_attribute(module: tvm_ffi.Module, register, factor: Any) -> None:
    name = register(module.scale, ["args", "rets", "attrs.factor"])
    x = jnp.linspace(-2, 2, 12, dtype=jnp.float32).reshape(3, 4)
    expected = np.asarray(x) * np.float32(float(factor))
    np.testing.assert_allclose(call(name, like(x), x, factor=factor), expected, rtol=1e-6)


def test_clamp_i32_takes_integer_attributes(module: tvm_ffi.Module, register) -> None:
    name = register(module.clamp_i32, ["args", "rets", "attrs.lo", "attrs.hi"])
    x = jnp.arange(-6, 6, dtype=jnp.int32).reshape(3, 4)
    y = call(name, like(x), x, lo=-2, hi=np.int8(3))
    assert y.dtype == jnp.int32
    np.testing.assert_array_equal(y, np.clip(np.asarray(x), -2, 3))


def test_row_sum_max_has_two_outputs(module: tvm_ffi.Module, register) -> None:
    name = register(module.row_sum_max)
    x = jnp.array([[1.0, -4.0, 2.5], [0.0, 9.0, -1.0], [3.0, 3.0, 3.0]], jnp.float32)
    total, peak = call(name, (rows(x, x.dtype), rows(x, x.dtype)), x)
    np.testing.assert_allclose(total, np.asarray(x).sum(axis=1))
    np.testing.assert_array_equal(peak, np.asarray(x).max(axis=1))


def test_row_argmax_has_an_int32_output(module: tvm_ffi.Module, register) -> None:
    name = register(module.row_argmax)
    x = jax.random.normal(jax.random.key(0), (8, 5), jnp.float32)
    index = call(name, rows(x, jnp.int32), x)
    assert index.dtype == jnp.int32
    np.testing.assert_array_equal(index, np.asarray(x).argmax(axis=1))


def test_kernels_compose_in_one_program(module: tvm_ffi.Module, register) -> None:
    add_one = register(module.add_one, label="add_one")
    scale = register(module.scale, ["args", "rets", "attrs.factor"], label="scale")
    argmax = register(module.row_argmax, label="argmax")

    @jax.jit
    def program(x: jax.Array) -> jax.Array:
        y = jax.ffi.ffi_call(add_one, like(x))(x)
        y = jax.ffi.ffi_call(scale, like(y))(y, factor=-1.0)
        return jax.ffi.ffi_call(argmax, rows(y, jnp.int32))(y)

    x = jnp.array([[3.0, 1.0, 2.0], [5.0, 6.0, -7.0]], jnp.float32)
    np.testing.assert_array_equal(program(x), [1, 2])


def error_message(run_call: Callable[[], Any]) -> str:
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        np.asarray(run_call())
    return str(raised.value)


def test_wrong_dtype_is_a_value_error_naming_the_target(module: tvm_ffi.Module, register) -> None:
    name = register(module.add_one)
    x = jnp.arange(4, dtype=jnp.int32)
    message = error_message(lambda: call(name, like(x), x))
    assert message.startswith("INVALID_ARGUMENT: ")
    assert f"jax_tvm_ffi target '{name}'" in message
    assert "ValueError" in message
    assert "add_one: x must have dtype float32, got int32" in message


def test_wrong_rank_names_the_argument_and_shape(module: tvm_ffi.Module, register) -> None:
    name = register(module.row_sum_max)
    x = jnp.ones(6, jnp.float32)
    message = error_message(lambda: call(name, (like(x), like(x)), x))
    assert f"jax_tvm_ffi target '{name}'" in message
    assert "row_sum_max: x must be 2-D, got shape (6,)" in message


def test_wrong_output_shape_names_the_output(module: tvm_ffi.Module, register) -> None:
    name = register(module.row_argmax)
    x = jnp.ones((3, 2), jnp.float32)
    message = error_message(lambda: call(name, jax.ShapeDtypeStruct((4,), jnp.int32), x))
    assert f"jax_tvm_ffi target '{name}'" in message
    assert "row_argmax: index must have shape (3,), got (4,)" in message


def test_bad_attribute_value_is_a_value_error(module: tvm_ffi.Module, register) -> None:
    name = register(module.clamp_i32, ["args", "rets", "attrs.lo", "attrs.hi"])
    x = jnp.arange(3, dtype=jnp.int32)
    message = error_message(lambda: call(name, like(x), x, lo=5, hi=1))
    assert f"jax_tvm_ffi target '{name}'" in message
    assert "ValueError" in message and "clamp_i32: lo must not exceed hi, got lo=5 hi=1" in message


def test_library_still_works_after_an_error(module: tvm_ffi.Module, register) -> None:
    name = register(module.add_one)
    bad = jnp.arange(3, dtype=jnp.int32)
    good = jnp.arange(3, dtype=jnp.float32)
    for _ in range(3):
        assert "must have dtype float32" in error_message(lambda: call(name, like(bad), bad))
        np.testing.assert_array_equal(call(name, like(good), good), np.asarray(good) + 1)
