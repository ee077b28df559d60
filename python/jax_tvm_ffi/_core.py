"""Loads the C++ core (``libjax_tvm_ffi.so``) through the TVM FFI module loader."""

from __future__ import annotations

import functools
from pathlib import Path

import tvm_ffi

_LIBRARY_NAME = "libjax_tvm_ffi.so"


@functools.cache
def core() -> tvm_ffi.Module:
    """Returns the loaded core module; its functions are defined in ``src/python_module.cc``."""
    path = Path(__file__).with_name(_LIBRARY_NAME)
    if not path.exists():
        raise ImportError(
            f"jax_tvm_ffi: the compiled core {path} is missing; install the package with "
            "`pip install .` rather than importing it from the source tree"
        )
    return tvm_ffi.load_module(str(path))
