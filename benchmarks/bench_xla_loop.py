"""1. XLA loop: one custom call per iteration of a jitted ``lax.fori_loop``, native against bridge.

Each iteration computes ``y = x + attr`` on an f32[16] tensor with one scalar attribute, through
(a) a native XLA FFI handler written with XLA's typed binding and (b) the bridge calling a TVM
FFI function with the same body; both come from one shared library built by
``native_build``. A third loop doing the same add as an XLA operation shows what an iteration
costs with no custom call at all.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tvm_ffi

import jax_tvm_ffi
from common import BenchmarkError, Settings, interleaved_median_ns

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
