"""A kernel written in Apache TVM's tensor expressions, compiled for the CPU, run in ``jax.jit``.

``tvm.compile`` lowers a TE computation through TensorIR to LLVM machine code; every function
of the compiled module is a ``tvm_ffi.Function`` taking ``DLTensor``s, which the bridge takes
like any other. The shape is symbolic (``n``), so one compiled function serves every length,
and TVM's generated code checks the dtype, rank and shape of each argument itself. The module
can also be exported to a shared library and loaded back with ``tvm_ffi.load_module``.

Needs the ``tvm`` extra (``pip install ".[tvm]"``) and, for ``export_library``, a C++ compiler.
Without the extra it says how to install it and exits with status 0.

Run: python examples/tvm_compiled_kernel.py   (last line: "tvm_compiled_kernel: OK")
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
import tvm_ffi
from optional_extra import import_extra

import jax_tvm_ffi

if TYPE_CHECKING:
    import tvm


def scaled_add(scale: float) -> tvm.IRModule:
    """``C = A * scale + B`` over float32 vectors of any length ``n``, as an IRModule."""
    import tvm
    from tvm import te

    n = te.var("n")
    a = te.placeholder((n,), "float32", name="A")
    b = te.placeholder((n,), "float32", name="B")
    c = te.compute((n,), lambda i: a[i] * scale + b[i], name="C")
    func = te.create_prim_func([a, b, c]).with_attr("global_symbol", "scaled_add")
    return tvm.IRModule({"scaled_add": func})


def call(name: str, a: jax.Array, b: jax.Array) -> jax.Array:
    """Calls the target ``name`` on ``(a, b)``; the result is shaped like ``a``."""
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(a.shape, a.dtype))(a, b)


def main() -> None:
    tvm = import_extra("tvm", "tvm", "tvm_compiled_kernel")
    if tvm is None:
        return
    executable = tvm.compile(scaled_add(2.0), target="llvm")
    function = executable["scaled_add"]
    print("compiled:", type(function).__name__, "scaled_add")
    jax_tvm_ffi.register_ffi_target("tvm_example.scaled_add", function, platform="cpu")

    f = jax.jit(lambda a, b: call("tvm_example.scaled_add", a, b))
    for n in (7, 1000):  # a new length retraces, the compiled kernel stays the same
        a = jnp.arange(n, dtype=jnp.float32)
        b = jnp.full((n,), 0.5, jnp.float32)
        c = f(a, b)
        np.testing.assert_allclose(c, np.asarray(a) * 2 + 0.5)
    print("scaled_add:", c[:4])

    # TVM's own argument checks fail the call with an error naming the target.
    try:
        f(a, b[:3]).block_until_ready()
    except jax.errors.JaxRuntimeError as error:
        print("error:", str(error).splitlines()[0])
        assert "Mismatched B.shape[0]" in str(error)
    else:
        raise AssertionError("mismatched lengths should fail TVM's shape check")

    # The same code as a shared library, loaded with tvm_ffi alone.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scaled_add.so"
        executable.export_library(str(path))
        library = tvm_ffi.load_module(str(path))
    jax_tvm_ffi.register_ffi_target("tvm_example.scaled_add_so", library.scaled_add, platform="cpu")
    c = jax.jit(lambda a, b: call("tvm_example.scaled_add_so", a, b))(a, b)
    np.testing.assert_allclose(c, np.asarray(a) * 2 + 0.5)
    print("exported scaled_add:", c[:4])
    print("tvm_compiled_kernel: OK")


if __name__ == "__main__":
    main()
