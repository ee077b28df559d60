"""1. XLA loop: one custom call per iteration of a jitted ``lax.fori_loop``, native against bridge.

Each iteration computes ``y = x + attr`` on an f32[16] tensor with one scalar attribute, through
(a) a native XLA FFI handler written with XLA's typed binding and (b) the bridge calling a TVM
FFI function with the same body; both come from one shared library built by
``native_build``. A third loop doing the same add as an XLA operation shows what an iteration
costs with no custom call at all.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tvm_ffi

import jax_tvm_ffi
from common import SETTINGS, BenchmarkError, Settings, interleaved_median_ns

NATIVE_TARGET = "jax_tvm_ffi_bench.add_scalar.native"
BRIDGE_TARGET = "jax_tvm_ffi_bench.add_scalar.bridge"
BRIDGE_ARG_SPEC = ["args", "rets", "attrs.attr"]
ELEMENTS = 16
ATTR = np.float32(1.0)


@dataclass(frozen=True)
class Kernels:
    """The loaded kernel library (kept referenced while its targets may run).

    Attributes:
      library: the library loaded with ctypes, for the native handler's symbol.
      module: the same library loaded as a TVM FFI module.
      bridge_function: the TVM FFI function ``add_scalar`` the bridge calls.
    """

    library: ctypes.CDLL
    module: Any
    bridge_function: Any


def register_targets(kernel_library: Path) -> Kernels:
    """Registers the native and the bridged target with JAX and returns the loaded library."""
    library = ctypes.cdll.LoadLibrary(str(kernel_library))
    jax.ffi.register_ffi_target(
        NATIVE_TARGET, jax.ffi.pycapsule(library.JaxTvmFfiBenchAddScalarNative), platform="cpu"
    )
    module = tvm_ffi.load_module(str(kernel_library))
    jax_tvm_ffi.register_ffi_target(
        BRIDGE_TARGET, module.add_scalar, arg_spec=BRIDGE_ARG_SPEC, platform="cpu"
    )
    return Kernels(library=library, module=module, bridge_function=module.add_scalar)


def _loop(target: str | None, iterations: int) -> Any:
    """A jitted loop of ``iterations`` steps ``y = y + ATTR``; target None uses XLA's add."""

    def step(_: Any, y: jax.Array) -> jax.Array:
        if target is None:
            return y + ATTR
        result = jax.ShapeDtypeStruct(y.shape, y.dtype)
        return jax.ffi.ffi_call(target, result)(y, attr=ATTR)

    return jax.jit(lambda x: jax.lax.fori_loop(0, iterations, step, x))


def run(kernels: Kernels, settings: Settings) -> dict[str, Any]:
    """Times the three loops on the same input; needs ``register_targets`` first.

    Returns:
      ``iterations``, ``native_ns``, ``bridge_ns`` (per iteration, median of
      ``settings.loop_repeats`` runs), ``ratio`` (bridge / native), ``xla_add_ns`` and
      ``repeats``.

    Raises:
      BenchmarkError: a loop computed a wrong result.
    """
    del kernels  # Only needs to be alive.
    iterations = settings.loop_iterations
    x = jnp.arange(ELEMENTS, dtype=jnp.float32)
    expected = np.arange(ELEMENTS, dtype=np.float32) + np.float32(iterations) * ATTR
    loops = {
        "native": _loop(NATIVE_TARGET, iterations),
        "bridge": _loop(BRIDGE_TARGET, iterations),
        "xla_add": _loop(None, iterations),
    }
    for name, loop in loops.items():
        got = np.asarray(loop(x))
        if not np.array_equal(got, expected):
            raise BenchmarkError(f"XLA loop '{name}' computed {got[:4]}..., not {expected[:4]}...")
    timed = {name: (lambda loop=loop: loop(x).block_until_ready()) for name, loop in loops.items()}
    ns = interleaved_median_ns(timed, items=iterations, repeats=settings.loop_repeats)
    return {
        "iterations": iterations,
        "native_ns": ns["native"],
        "bridge_ns": ns["bridge"],
        "ratio": ns["bridge"] / ns["native"],
        "xla_add_ns": ns["xla_add"],
        "repeats": settings.loop_repeats,
    }


def run_in_processes(kernel_library: Path, settings: Settings) -> dict[str, Any]:
    """Runs ``run`` in ``settings.loop_processes`` fresh processes and combines them.

    Returns:
      What ``run`` returns, with ``native_ns``, ``bridge_ns`` and ``xla_add_ns`` the medians
      over the processes, ``ratio`` the median of the processes' ratios, and ``processes``,
      ``ratio_min``, ``ratio_max`` and ``per_process`` (each process's result) added.

    Raises:
      BenchmarkError: a worker process failed.
    """
    per_process = []
    for _ in range(settings.loop_processes):
        completed = subprocess.run(
            [sys.executable, __file__, "--worker", str(kernel_library), settings.name],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).parent,
        )
        if completed.returncode != 0:
            raise BenchmarkError(f"the XLA loop worker failed:\n{completed.stderr[-4000:]}")
        per_process.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    ratios = [result["ratio"] for result in per_process]
    combined = dict(per_process[0])
    for key in ("native_ns", "bridge_ns", "xla_add_ns"):
        combined[key] = statistics.median(result[key] for result in per_process)
    combined.update(
        ratio=statistics.median(ratios),
        processes=len(per_process),
        ratio_min=min(ratios),
        ratio_max=max(ratios),
        per_process=per_process,
    )
    return combined


def _worker() -> None:
    parser = argparse.ArgumentParser(description="one process of the XLA loop benchmark")
    parser.add_argument("--worker", type=Path, required=True, metavar="KERNEL_LIBRARY")
    parser.add_argument("settings", choices=sorted(SETTINGS))
    args = parser.parse_args()
    kernels = register_targets(args.worker)
    print(json.dumps(run(kernels, SETTINGS[args.settings])))


if __name__ == "__main__":
    _worker()
