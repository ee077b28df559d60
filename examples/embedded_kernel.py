"""A kernel embedded in the program: `ffi_function(..., embed=True)` puts the kernel's shared
library into the custom call, so a `jax.export` artifact runs in a fresh process that has only
jax and jax_tvm_ffi: no kernel source, no compiler, no build directory, no registration.

The example builds a C++ kernel into a temporary directory, exports a jitted function that calls
it, deletes the build directory, and runs the deserialized artifact in a fresh process, checking
the result against NumPy. It prints the artifact's size and what embedding added to it.

Needs flatbuffers (part of the test extra); without it the example says how to install it and
exits with status 0.

Run: python examples/embedded_kernel.py   (last line: "embedded_kernel: OK")
"""

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import jax.export  # jax 0.6 imports this submodule only when asked to
import numpy as np
from optional_extra import import_extra

import jax_tvm_ffi

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>

// y = scale * x + 1
void scale_add(tvm::ffi::TensorView x, tvm::ffi::TensorView y, double scale) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = static_cast<float>(scale) * in[i] + 1.0f;
}
"""
SCALE = 3.0


def inputs():
    return np.linspace(-1, 1, 8, dtype=np.float32)


def export(build_directory: str, embed: bool) -> bytes:
    """The serialized artifact of a jitted function that calls the kernel."""
    import tvm_ffi.cpp

    mod = tvm_ffi.cpp.load_inline(
        name="embedded_example",
        cpp_sources=SOURCE,
        functions=["scale_add"],
        build_directory=build_directory,
    )
    scale_add = jax_tvm_ffi.ffi_function(
        mod.scale_add,
        lambda x, **_: x,
        arg_spec=["args", "rets", "attrs.scale"],
        name="embedded_example.scale_add",
        embed=embed,
    )
    f = jax.jit(lambda x: scale_add(x, scale=SCALE) * 2)
    checks = (
        jax_tvm_ffi.export_disabled_checks()
        if embed
        else [jax.export.DisabledSafetyCheck.custom_call(scale_add.target_name)]
    )
    return bytes(jax.export.export(f, disabled_checks=checks)(inputs()).serialize())


def run_exported(artifact: Path) -> None:
    """In a fresh process: deserialize and run. Nothing is registered, nothing is built."""
    exported = jax.export.deserialize(bytearray(artifact.read_bytes()))
    np.save(sys.stdout.buffer, np.asarray(exported.call(inputs())))


def main():
    # jax.export serializes with flatbuffers, which jax does not install (the test extra does).
    if import_extra("flatbuffers", "test", "embedded_kernel") is None:
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--run":
        run_exported(Path(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp) / "build"
        embedded = export(str(build), embed=True)
        library_bytes = sum(p.stat().st_size for p in build.glob("*.so"))
        by_name = export(str(Path(tmp) / "build_by_name"), embed=False)
        shutil.rmtree(build)  # the kernel's library now lives only in the artifact
        artifact = Path(tmp) / "program.jax"
        artifact.write_bytes(embedded)
        fresh = subprocess.run(
            [sys.executable, __file__, "--run", str(artifact)],
            capture_output=True,
            check=True,
            timeout=120,
        )
    got = np.load(io.BytesIO(fresh.stdout))
    expected = (SCALE * inputs() + 1) * 2
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    print(f"kernel library: {library_bytes} bytes")
    print(f"artifact: {len(embedded)} bytes embedded, {len(by_name)} bytes by name")
    print(f"bytes added by embedding: {len(embedded) - len(by_name)}")
    print(f"fresh process: {np.array2string(got, precision=2)}")
    print("fresh process result equals NumPy's: True")
    print("embedded_kernel: OK")


if __name__ == "__main__":
    main()
