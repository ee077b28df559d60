"""A C++ kernel compiled to an object file, loaded by LLVM ORC JIT, called from ``jax.jit``.

``apache-tvm-ffi-orcjit`` links object files (``.o``) into the running process with LLVM's
ORC JIT and returns an ordinary ``tvm_ffi.Module``: no shared library is built, and the
functions it exports are ``tvm_ffi.Function``s that the bridge takes like any other.

Needs the ``orcjit`` extra (``pip install ".[orcjit]"``) and a C++ compiler (``$CXX``, default
``g++``). Without the extra it says how to install it and exits with status 0.

Run: python examples/orcjit_kernel.py   (last line: "orcjit_kernel: OK")
"""

import os
import subprocess
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import tvm_ffi
from optional_extra import import_extra

import jax_tvm_ffi

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

using tvm::ffi::TensorView;

// y = x + 1, for a float32 vector.
void AddOne(TensorView x, TensorView y) {
  TVM_FFI_ICHECK(x.ndim() == 1) << "x must be a 1-D tensor";
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.size(0); ++i) out[i] = in[i] + 1;
}

// y = x * scale, with scale as an attribute.
void Scale(TensorView x, TensorView y, double scale) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = static_cast<float>(in[i] * scale);
}

TVM_FFI_DLL_EXPORT_TYPED_FUNC(add_one, AddOne);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(scale, Scale);
"""


def compile_object(source: str, directory: Path, cxx: str) -> Path:
    """Compiles C++ ``source`` to a position-independent object file in ``directory``."""
    src = directory / "kernel.cc"
    obj = directory / "kernel.o"
    src.write_text(source)
    includes = {tvm_ffi.libinfo.find_include_path(), tvm_ffi.libinfo.find_dlpack_include_path()}
    command = [cxx, "-std=c++17", "-O2", "-fPIC", "-c", str(src), "-o", str(obj)]
    subprocess.run(command + [f"-I{path}" for path in sorted(includes)], check=True)
    return obj


def main() -> None:
    tvm_ffi_orcjit = import_extra("tvm_ffi_orcjit", "orcjit", "orcjit_kernel")
    if tvm_ffi_orcjit is None:
        return
    cxx = os.environ.get("CXX", "g++")
    with tempfile.TemporaryDirectory() as tmp:
        obj = compile_object(SOURCE, Path(tmp), cxx)
        # ORC JIT copies the object into its own memory: the file can go once it is loaded.
        # cxx names the compiler whose libstdc++ resolves the object's C++ runtime symbols.
        mod = tvm_ffi_orcjit.default_session().load_module(obj, cxx=cxx)
    print("loaded:", type(mod).__name__, "with", type(mod.add_one).__name__, "add_one")

    jax_tvm_ffi.register_ffi_target("orcjit_example.add_one", mod.add_one, platform="cpu")

    @jax.jit
    def add_one(x: jax.Array) -> jax.Array:
        return jax.ffi.ffi_call("orcjit_example.add_one", jax.ShapeDtypeStruct(x.shape, x.dtype))(x)

    x = jnp.arange(5, dtype=jnp.float32)
    y = add_one(x)
    print("add_one:", y)
    np.testing.assert_array_equal(y, np.asarray(x) + 1)

    # Attributes work as for any other function: name them in arg_spec.
    jax_tvm_ffi.register_ffi_target(
        "orcjit_example.scale", mod.scale, ["args", "rets", "attrs.scale"], platform="cpu"
    )
    m = jnp.arange(6, dtype=jnp.float32).reshape(2, 3)
    z = jax.jit(
        lambda v: jax.ffi.ffi_call("orcjit_example.scale", jax.ShapeDtypeStruct(v.shape, v.dtype))(
            v, scale=2.5
        )
    )(m)
    print("scale:", z.tolist())
    np.testing.assert_array_equal(z, np.asarray(m) * 2.5)

    # A failed check in the JIT-linked code is an ordinary error naming the target.
    try:
        add_one(m).block_until_ready()
    except jax.errors.JaxRuntimeError as error:
        print("error:", str(error).splitlines()[0])
        assert "x must be a 1-D tensor" in str(error)
    else:
        raise AssertionError("a 2-D input should fail the kernel's check")
    print("orcjit_kernel: OK")


if __name__ == "__main__":
    main()
