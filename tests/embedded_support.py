"""The kernels of tests/data/embedded_kernels.cc as embedded ``ffi_function``s, for
tests/test_embedded.py and its worker (tests/data/embedded_worker.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "data"
FUNCTIONS = ["affine", "square"]
AFFINE_SPEC = ["args", "rets", "attrs.alpha"]


def build(build_directory: str | None) -> Any:
    """The kernels, built by tvm_ffi.cpp.load_inline (in ``build_directory`` when given)."""
    import tvm_ffi.cpp

    return tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_embedded_kernels",
        cpp_sources=(DATA_DIR / "embedded_kernels.cc").read_text(),
        functions=FUNCTIONS,
        build_directory=build_directory,
    )


def functions(mod: Any, **options: Any) -> tuple[Any, Any]:
    """affine (y = alpha * x + 1) and square (y = x * x), embedded."""
    import jax_tvm_ffi

    affine = jax_tvm_ffi.ffi_function(
        mod.affine, lambda x, **_: x, arg_spec=AFFINE_SPEC, embed=True, **options
    )
    square = jax_tvm_ffi.ffi_function(mod.square, lambda x: x, embed=True, **options)
    return affine, square


def affine_reference(x: Any, alpha: float) -> Any:
    import numpy as np

    return np.float32(alpha) * np.asarray(x, np.float32) + np.float32(1)
