"""An ahead-of-time kernel library: a CMake project built against tvm_ffi, called from jax.jit.

examples/aot_library/ is what a kernel author ships: C++ sources that export functions with
TVM_FFI_DLL_EXPORT_TYPED_FUNC and a CMakeLists.txt that finds tvm_ffi with
find_package(tvm_ffi CONFIG). This script configures and builds it into a temporary directory,
loads the library with tvm_ffi.load_module and registers each function as an XLA FFI target.

Run: python examples/aot_library.py   (last line: "aot_library: OK"; needs cmake and a C++17
compiler, and uses ninja when it is on PATH)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tvm_ffi

import jax_tvm_ffi

SOURCE_DIR = Path(__file__).resolve().parent / "aot_library"


def run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout.strip()


def build_library(build_dir: Path) -> Path:
    """Configures and builds examples/aot_library in build_dir; returns the library's path."""
    cmake_dir = run([sys.executable, "-m", "tvm_ffi.config", "--cmakedir"])
    configure = ["cmake", "-S", str(SOURCE_DIR), "-B", str(build_dir)]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    # tvm_ffi's CMake package asks this interpreter where its headers and library are.
    configure += [f"-Dtvm_ffi_DIR={cmake_dir}", f"-DPython_EXECUTABLE={sys.executable}"]
    run(configure)
    run(["cmake", "--build", str(build_dir), "--config", "Release"])
    (library,) = (
        path
        for path in build_dir.rglob("aot_kernels*")
        if path.suffix in (".so", ".dylib", ".dll") and path.is_file()
    )
    return library


def call(name: str, results: Any, *args: jax.Array, **attrs: Any) -> Any:
    return jax.ffi.ffi_call(name, results)(*args, **attrs)


def demo(mod: tvm_ffi.Module) -> None:
    # Each exported function is an attribute of the module; register each as a target.
    jax_tvm_ffi.register_ffi_target("aot.add_one", mod.add_one)
    jax_tvm_ffi.register_ffi_target("aot.scale", mod.scale, ["args", "rets", "attrs.factor"])
    jax_tvm_ffi.register_ffi_target(
        "aot.clamp_i32", mod.clamp_i32, ["args", "rets", "attrs.lo", "attrs.hi"]
    )
    jax_tvm_ffi.register_ffi_target("aot.row_sum_max", mod.row_sum_max)
    jax_tvm_ffi.register_ffi_target("aot.row_argmax", mod.row_argmax)

    @jax.jit
    def pipeline(x: jax.Array) -> tuple[jax.Array, ...]:
        like_x = jax.ShapeDtypeStruct(x.shape, x.dtype)
        per_row = jax.ShapeDtypeStruct(x.shape[:1], x.dtype)
        y = call("aot.add_one", like_x, x)
        y = call("aot.scale", like_x, y, factor=np.float32(0.5))
        total, peak = call("aot.row_sum_max", (per_row, per_row), y)
        index = call("aot.row_argmax", jax.ShapeDtypeStruct(x.shape[:1], jnp.int32), y)
        return y, total, peak, index

    x = jnp.array([[1.0, 5.0, -3.0], [7.0, 0.0, 2.0]], jnp.float32)
    y, total, peak, index = pipeline(x)
    print("scale(add_one(x), 0.5):", y.tolist())
    print("row_sum_max:", total.tolist(), peak.tolist(), "row_argmax:", index.tolist())
    expected = (np.asarray(x) + 1) * 0.5
    np.testing.assert_allclose(y, expected)
    np.testing.assert_allclose(total, expected.sum(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(peak, expected.max(axis=1))
    np.testing.assert_array_equal(index, expected.argmax(axis=1))

    clamp = jax.jit(
        lambda v: call("aot.clamp_i32", jax.ShapeDtypeStruct(v.shape, v.dtype), v, lo=-2, hi=3)
    )
    v = jnp.arange(-5, 6, dtype=jnp.int32)
    print("clamp_i32:", clamp(v).tolist())
    np.testing.assert_array_equal(clamp(v), np.clip(np.asarray(v), -2, 3))

    # The kernels check their inputs; the error names the target, the kernel and the problem.
    add_one = jax.jit(lambda v: call("aot.add_one", jax.ShapeDtypeStruct(v.shape, v.dtype), v))
    try:
        np.asarray(add_one(v))
    except jax.errors.JaxRuntimeError as error:
        message = str(error)
        print("int32 into add_one:", message.splitlines()[0])
        assert "aot.add_one" in message and "x must have dtype float32, got int32" in message
    else:
        raise AssertionError("add_one accepted an int32 input")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="aot_library_") as build_dir:
        library = build_library(Path(build_dir))
        print("built:", library.name)
        demo(tvm_ffi.load_module(str(library)))
    print("aot_library: OK")


if __name__ == "__main__":
    main()
