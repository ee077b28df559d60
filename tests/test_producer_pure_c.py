"""examples/pure_c/add_one.c, a kernel in C99 against tvm/ffi/c_api.h alone, works from jax.jit.

The module fixture compiles the C file with the system C compiler (warnings are errors) and
loads it with tvm_ffi.load_module; the tests check results for several shapes, both ways the
bridge passes tensors (DLTensor pointers and, with pass_owned_tensor, tensor objects), and that
errors the C code raises keep their kind and message and name the target.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi
import tvm_ffi.libinfo

SOURCE = Path(__file__).resolve().parent.parent / "examples" / "pure_c" / "add_one.c"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shlex.split(os.environ.get("CC", "cc"))
    if shutil.which(compiler[0]) is None:
        pytest.skip(f"no C compiler: {compiler[0]} not found")
    output = tmp_path_factory.mktemp("pure_c") / "pure_c_add_one.so"
    lib_dir = os.path.dirname(tvm_ffi.libinfo.find_libtvm_ffi())
    command = [
        *compiler,
        "-x",
        "c",  # C, whatever the compiler driver would guess
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-shared",
        "-fPIC",
        f"-I{tvm_ffi.libinfo.find_include_path()}",
        f"-I{tvm_ffi.libinfo.find_dlpack_include_path()}",
        str(SOURCE),
        "-o",
        str(output),
        f"-L{lib_dir}",
        "-ltvm_ffi",
        f"-Wl,-rpath,{lib_dir}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{command} failed:\n{result.stderr}"
    return output


@pytest.fixture(scope="module")
def module(library: Path) -> tvm_ffi.Module:
    return tvm_ffi.load_module(str(library))


def call(name: str, x: jax.Array, out: jax.ShapeDtypeStruct | None = None, **attrs: Any) -> Any:
    out = jax.ShapeDtypeStruct(x.shape, x.dtype) if out is None else out
    return jax.jit(lambda v: jax.ffi.ffi_call(name, out)(v, **attrs))(x)


def error_message(name: str, x: jax.Array, **kwargs: Any) -> str:
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        np.asarray(call(name, x, **kwargs))
    return str(raised.value)


def test_only_the_entry_points_are_exported(library: Path, module: tvm_ffi.Module) -> None:
    assert isinstance(module.add_one, tvm_ffi.Function)
    assert isinstance(module.scale, tvm_ffi.Function)
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm not found")
    result = subprocess.run(
        [nm, "-D", "--defined-only", str(library)], capture_output=True, text=True, check=True
    )
    symbols = {line.split()[-1] for line in result.stdout.splitlines()}
    assert {s for s in symbols if s.startswith("__tvm_ffi_")} == {
        "__tvm_ffi_add_one",
        "__tvm_ffi_scale",
    }
    assert "GetTensor" not in symbols and "CheckUnary" not in symbols  # static helpers


SHAPES = [(), (1,), (7,), (2, 3), (3, 1, 4), (0,), (2, 0, 3)]


@pytest.mark.parametrize("owned", [False, True], ids=["dltensor-ptr", "tensor-object"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_add_one(module: tvm_ffi.Module, register, shape: tuple[int, ...], owned: bool) -> None:
    name = register(module.add_one, pass_owned_tensor=owned)
    x = jnp.arange(int(np.prod(shape)), dtype=jnp.float32).reshape(shape) - 2.5
    np.testing.assert_array_equal(call(name, x), np.asarray(x) + 1)


@pytest.mark.parametrize("factor", [2.0, -0.5, np.float32(3.0), 3, np.int16(-2)], ids=repr)
def test_scale_reads_float_and_int_attributes(
    module: tvm_ffi.Module, register, factor: Any
) -> None:
    name = register(module.scale, ["args", "rets", "attrs.factor"])
    x = jnp.linspace(-1, 1, 8, dtype=jnp.float32).reshape(2, 4)
    expected = np.asarray(x) * np.float32(float(factor))
    np.testing.assert_array_equal(call(name, x, factor=factor), expected)


def test_called_directly_with_tvm_ffi_tensors(module: tvm_ffi.Module) -> None:
    # Outside JAX, tvm_ffi passes tensor objects (kTVMFFITensor): the C code reads those too.
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.zeros_like(x)
    module.add_one(tvm_ffi.from_dlpack(x), tvm_ffi.from_dlpack(y))
    np.testing.assert_array_equal(y, x + 1)


def test_wrong_dtype_error_keeps_kind_and_message(module: tvm_ffi.Module, register) -> None:
    name = register(module.add_one)
    message = error_message(name, jnp.arange(3, dtype=jnp.int32))
    assert message.startswith("INVALID_ARGUMENT: ")  # ValueError maps to INVALID_ARGUMENT
    assert f"jax_tvm_ffi target '{name}'" in message
    assert "ValueError: add_one: x must be float32, got DLPack dtype code 0 with 32 bits" in message


def test_wrong_output_dtype_names_the_output(module: tvm_ffi.Module, register) -> None:
    name = register(module.add_one)
    x = jnp.ones(3, jnp.float32)
    message = error_message(name, x, out=jax.ShapeDtypeStruct((3,), jnp.float64))
    assert f"jax_tvm_ffi target '{name}'" in message
    assert "add_one: y must be float32, got DLPack dtype code 2 with 64 bits" in message


def test_shape_mismatch_names_the_dimension(module: tvm_ffi.Module, register) -> None:
    name = register(module.add_one)
    x = jnp.ones((2, 3), jnp.float32)
    message = error_message(name, x, out=jax.ShapeDtypeStruct((2, 4), jnp.float32))
    assert f"jax_tvm_ffi target '{name}'" in message
    assert "ValueError: add_one: x and y differ in dimension 1: 3 and 4" in message


def test_wrong_argument_count_is_a_type_error(module: tvm_ffi.Module, register) -> None:
    name = register(module.add_one, ["args", "rets", "ctx.device_id"])
    message = error_message(name, jnp.ones(3, jnp.float32))
    assert message.startswith("INVALID_ARGUMENT: ")
    assert f"jax_tvm_ffi target '{name}'" in message
    assert "TypeError: add_one: expected 2 arguments (x, y), got 3" in message


def test_wrong_attribute_type_is_a_type_error(module: tvm_ffi.Module, register) -> None:
    name = register(module.scale, ["args", "rets", "attrs.factor"])
    message = error_message(name, jnp.ones(3, jnp.float32), factor="two")
    assert f"jax_tvm_ffi target '{name}'" in message
    assert "TypeError: scale: factor must be a float or an int" in message


def test_calls_work_after_a_failed_call(module: tvm_ffi.Module, register) -> None:
    name = register(module.add_one)
    good = jnp.arange(4, dtype=jnp.float32)
    for _ in range(3):
        assert "must be float32" in error_message(name, jnp.arange(4, dtype=jnp.int32))
        np.testing.assert_array_equal(call(name, good), np.asarray(good) + 1)
