"""jax.export with bridged kernels: export a jitted function that calls C++ kernels through
jax_tvm_ffi, serialize it, and run it in a fresh process.

The serialized program refers to its kernels by target name. The one step the fresh process
must take: create the same ffi_functions under the same names (`name=`) and register them
(`.register(platform)`, or pass `platform=`) before calling the deserialized program.

Needs flatbuffers (part of the test extra); without it the example says how to install it and
exits with status 0.

Run: python examples/export.py   (last line: "export: OK")
"""

import io
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import jax.export  # jax 0.6 imports this submodule only when asked to
import jax.numpy as jnp
import numpy as np
import rms_norm
from optional_extra import import_extra

import jax_tvm_ffi

EPS = 1e-6


def bridged_norm():
    """The same ffi_function in both processes: the fixed name is what the artifact records."""
    return jax_tvm_ffi.ffi_function(
        rms_norm.module().rms_norm_fwd,
        rms_norm.shapes,
        arg_spec=rms_norm.ARG_SPEC,
        name="export_example.rms_norm",
    )


def inputs():
    return np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)


def export(artifact: Path) -> np.ndarray:
    norm = bridged_norm()
    f = jax.jit(lambda x: jnp.tanh(norm(x, eps=EPS)[0]) * 2)
    # jax.export refuses custom calls it cannot vouch for, unless told they are intended.
    exported = jax.export.export(
        f, disabled_checks=[jax.export.DisabledSafetyCheck.custom_call(norm.target_name)]
    )(inputs())
    artifact.write_bytes(exported.serialize())
    print(f"exported for {exported.platforms}: {exported.in_avals} -> {exported.out_avals}")
    return np.asarray(f(inputs()))


def run_exported(artifact: Path) -> None:
    """In a fresh process: register the targets, deserialize, run, print the result."""
    bridged_norm().register("cpu")  # the one step: the same target, registered by name
    exported = jax.export.deserialize(bytearray(artifact.read_bytes()))
    np.save(sys.stdout.buffer, np.asarray(exported.call(inputs())))


def main():
    # jax.export serializes with flatbuffers, which jax does not install (the test extra does).
    if import_extra("flatbuffers", "test", "export") is None:
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--run":
        run_exported(Path(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / "program.jax"
        expected = export(artifact)
        fresh = subprocess.run(
            [sys.executable, __file__, "--run", str(artifact)],
            capture_output=True,
            check=True,
            timeout=120,
        )
    got = np.load(io.BytesIO(fresh.stdout))
    np.testing.assert_array_equal(got, expected)
    print(f"fresh process, first row: {np.array2string(got[0], precision=4)}")
    print("fresh process result equals this process's: True")
    print("export: OK")


if __name__ == "__main__":
    main()
