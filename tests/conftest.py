"""Shared fixtures: the C++ test kernels (compiled once per session) and unique target names.

64-bit types are enabled for the whole suite, because the dtype tests pass int64, uint64,
float64 and complex128 buffers and several kernels report through int64 outputs. Tests that
need JAX's default 32-bit mode enter ``jax.enable_x64(False)`` themselves.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import pytest
import tvm_ffi

import jax_tvm_ffi

jax.config.update("jax_enable_x64", True)

DATA_DIR = Path(__file__).parent / "data"

# The functions of tests/data/test_kernels.cc, all exported by one inline module.
KERNEL_FUNCTIONS = [
    "add_one_f32",
    "times_two_f32",
    "copy_bytes",
    "describe",
    "affine_attrs",
    "placement",
    "axpy_interleaved",
    "sum_and_dec",
    "write_address",
    "sum_array_attr",
    "throw_value_error",
    "icheck_fail",
    "returns_int",
]

_serial = itertools.count()


@pytest.fixture(scope="session")
def kernels() -> tvm_ffi.Module:
    """The C++ kernels of tests/data/test_kernels.cc, JIT-compiled once per session."""
    return tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_test_kernels",
        cpp_sources=(DATA_DIR / "test_kernels.cc").read_text(),
        functions=KERNEL_FUNCTIONS,
    )


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Makes target names no other test uses: the registry is process-wide."""
    test = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)

    def make(label: str = "target") -> str:
        return f"jax_tvm_ffi_test.{test}.{label}.{next(_serial)}"

    return make


@pytest.fixture
def register(unique_name: Callable[[str], str]) -> Callable[..., str]:
    """Registers a function under a fresh target name and returns the name."""

    def do_register(
        function: Any, arg_spec: Sequence[str] | None = None, label: str = "target", **options: Any
    ) -> str:
        name = unique_name(label)
        jax_tvm_ffi.register_ffi_target(name, function, arg_spec, **options)
        return name

    return do_register
