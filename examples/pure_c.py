"""A kernel in plain C99, written against tvm/ffi/c_api.h only, called from jax.jit.

examples/pure_c/add_one.c exports __tvm_ffi_add_one and __tvm_ffi_scale, C functions with the
TVM FFI "safe call" signature: no C++ and no tvm_ffi C++ headers. This script compiles it with
the system C compiler into a temporary directory, loads it with tvm_ffi.load_module and registers
its functions as XLA FFI targets, then shows the error a bad call raises.

Run: python examples/pure_c.py   (last line: "pure_c: OK"; needs a C compiler: $CC or cc)
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tvm_ffi
import tvm_ffi.libinfo

import jax_tvm_ffi

SOURCE = Path(__file__).resolve().parent / "pure_c" / "add_one.c"


def compile_c(source: Path, output: Path) -> Path:
    """Compiles a C99 TVM FFI kernel into a shared library linked against libtvm_ffi."""
    lib_dir = os.path.dirname(tvm_ffi.libinfo.find_libtvm_ffi())
    command = [
        *shlex.split(os.environ.get("CC", "cc")),
        # c_api.h's unnamed unions are C11 (a GNU extension in C99): no -pedantic here.
        "-std=c99",
        "-O2",
        "-Wall",
        "-Wextra",
        "-shared",
        "-fPIC",
        f"-I{tvm_ffi.libinfo.find_include_path()}",
        f"-I{tvm_ffi.libinfo.find_dlpack_include_path()}",
        str(source),
        "-o",
        str(output),
        f"-L{lib_dir}",
        "-ltvm_ffi",
        f"-Wl,-rpath,{lib_dir}",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return output


def call(name: str, x: jax.Array, **attrs: Any) -> jax.Array:
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype))(x, **attrs)


def demo(mod: tvm_ffi.Module) -> None:
    jax_tvm_ffi.register_ffi_target("pure_c.add_one", mod.add_one)
    jax_tvm_ffi.register_ffi_target("pure_c.scale", mod.scale, ["args", "rets", "attrs.factor"])

    x = jnp.arange(6, dtype=jnp.float32).reshape(2, 3)
    y = jax.jit(lambda x: call("pure_c.scale", call("pure_c.add_one", x), factor=2.0))(x)
    print("scale(add_one(x), 2):", y.tolist())
    np.testing.assert_array_equal(y, (np.asarray(x) + 1) * 2)

    # With pass_owned_tensor=True the function gets tensor objects instead of DLTensor pointers;
    # the C code reads both.
    jax_tvm_ffi.register_ffi_target("pure_c.add_one_owned", mod.add_one, pass_owned_tensor=True)
    y = jax.jit(lambda x: call("pure_c.add_one_owned", x))(x)
    np.testing.assert_array_equal(y, np.asarray(x) + 1)

    # An error set with TVMFFIErrorSetRaisedFromCStr keeps its kind and message.
    bad = jnp.arange(3, dtype=jnp.int32)
    try:
        np.asarray(jax.jit(lambda v: call("pure_c.add_one", v))(bad))
    except jax.errors.JaxRuntimeError as error:
        message = str(error)
        print("int32 into add_one:", message.splitlines()[0])
        assert "pure_c.add_one" in message and "ValueError" in message
        assert "add_one: x must be float32, got DLPack dtype code 0 with 32 bits" in message
    else:
        raise AssertionError("add_one accepted an int32 input")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pure_c_") as build_dir:
        library = compile_c(SOURCE, Path(build_dir) / "pure_c_add_one.so")
        demo(tvm_ffi.load_module(str(library)))
    print("pure_c: OK")


if __name__ == "__main__":
    main()
