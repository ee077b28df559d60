"""CUDA kernels embedded in the program (``ffi_function(..., embed=True)``) on the GPU: results
equal the registered path, a ``jax.export`` artifact runs in a fresh process that has only jax and
jax_tvm_ffi, and the CUDA-graph target runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jax
import jax.export  # jax 0.6 imports this submodule only when asked to
import jax.numpy as jnp
import numpy as np

import jax_tvm_ffi

# Runs in a fresh interpreter: deserialize the artifact, run it on the GPU, print the result.
_RUN_ARTIFACT = textwrap.dedent(
    """
    import json, sys
    import jax, jax.export, numpy as np
    import jax_tvm_ffi
    exported = jax.export.deserialize(bytearray(open(sys.argv[1], "rb").read()))
    x = jax.device_put(np.load(sys.argv[2]), jax.devices("gpu")[0])
    out = jax.jit(exported.call)(x)
    print("REPORT " + json.dumps({
        "platforms": list(exported.platforms),
        "device": str(next(iter(out.devices())).platform),
        "out": np.asarray(out).tolist(),
        "registered": jax_tvm_ffi.registered_count(),
        "loaded": int(jax_tvm_ffi.core().embedded_libraries_loaded()),
    }))
    """
)


def on_gpu(value: Any) -> jax.Array:
    return jax.device_put(value, jax.devices("gpu")[0])


def test_embedded_cuda_kernel_matches_the_registered_path(inline_kernels: Any) -> None:
    registered = jax_tvm_ffi.ffi_function(inline_kernels.add_one_env, lambda x: x, platform="gpu")
    embedded = jax_tvm_ffi.ffi_function(
        inline_kernels.add_one_env, lambda x: x, platform="gpu", embed=True
    )
    x = on_gpu(jnp.linspace(-3.0, 3.0, 100_003, dtype=jnp.float32))
    for transform in (lambda f: f, jax.jit):
        got = transform(embedded)(x)
        assert got.devices() == x.devices()
        np.testing.assert_array_equal(np.asarray(got), np.asarray(transform(registered)(x)))


def test_embedded_cuda_graph_target_runs_in_a_loop(inline_kernels: Any) -> None:
    embedded = jax_tvm_ffi.ffi_function(
        inline_kernels.add_one_env, lambda x: x, platform="gpu", embed=True, allow_cuda_graph=True
    )
    assert embedded.target_name == "jax_tvm_ffi.embedded_cuda_graph"
    x = on_gpu(jnp.zeros(4096, jnp.float32))
    out = jax.jit(lambda v: jax.lax.fori_loop(0, 8, lambda _, a: embedded(a), v))(x)
    np.testing.assert_array_equal(np.asarray(out), np.full(4096, 8.0, np.float32))


def test_exported_cuda_program_runs_in_a_fresh_process(inline_kernels: Any, tmp_path: Path) -> None:
    embedded = jax_tvm_ffi.ffi_function(
        inline_kernels.add_one_env, lambda x: x, platform="gpu", embed=True
    )
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    f = jax.jit(lambda v: embedded(v) * 2)
    exported = jax.export.export(
        f, platforms=["cuda"], disabled_checks=jax_tvm_ffi.export_disabled_checks()
    )(jax.ShapeDtypeStruct(x.shape, x.dtype))
    artifact, data = tmp_path / "program.jax", tmp_path / "x.npy"
    artifact.write_bytes(exported.serialize())
    np.save(data, x)
    home = tmp_path / "home"  # no tvm-ffi build cache in the fresh process
    home.mkdir()
    env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    env.pop("JAX_PLATFORMS", None)
    done = subprocess.run(
        [sys.executable, "-c", _RUN_ARTIFACT, str(artifact), str(data)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-6000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("REPORT "))
    report = json.loads(line[len("REPORT ") :])
    assert report["platforms"] == ["cuda"]
    assert report["device"] == "gpu"
    assert report["registered"] == 0
    assert report["loaded"] == 1
    np.testing.assert_array_equal(np.asarray(report["out"], np.float32), (x + 1) * 2)
