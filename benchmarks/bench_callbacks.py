"""3. Python callbacks: a NumPy function called from a jitted loop, bridge against pure_callback.

Both sides do the same NumPy work, ``x + 1`` on an f32[16] array: the bridge's callback, registered
with ``pass_owned_tensor=True``, writes it into the result in place (``y[:] = x + 1``); the
``jax.pure_callback`` one returns it. ``N`` calls run in one ``lax.fori_loop``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jax_tvm_ffi
from common import BenchmarkError, Settings, interleaved_median_ns

BRIDGE_TARGET = "jax_tvm_ffi_bench.py_add_one"
ELEMENTS = 16


def _add_one(x: np.ndarray) -> np.ndarray:
    return x + np.float32(1)


def _bridge_callback(x: Any, y: Any) -> None:
    np.from_dlpack(y)[:] = _add_one(np.from_dlpack(x))


def _pure_callback(x: Any) -> np.ndarray:
    # JAX passes the callback jax.Arrays; NumPy views them without a copy on CPU.
    return _add_one(np.asarray(x))


def _loop(use_bridge: bool, calls: int) -> Any:
    def step(_: Any, y: jax.Array) -> jax.Array:
        result = jax.ShapeDtypeStruct(y.shape, y.dtype)
        if use_bridge:
            return jax.ffi.ffi_call(BRIDGE_TARGET, result)(y)
        return jax.pure_callback(_pure_callback, result, y)

    return jax.jit(lambda x: jax.lax.fori_loop(0, calls, step, x))


def run(settings: Settings) -> dict[str, Any]:
    """Registers the bridged callback and times both loops on the same input.

    Returns:
      ``pure_callback_ns`` and ``bridge_ns`` (per call, median of
      ``settings.callback_repeats`` runs), ``speedup`` (pure_callback / bridge), ``calls``.

    Raises:
      BenchmarkError: a loop computed a wrong result.
    """
    jax_tvm_ffi.register_ffi_target(BRIDGE_TARGET, _bridge_callback, pass_owned_tensor=True)
    calls = settings.callback_calls
    x = jnp.arange(ELEMENTS, dtype=jnp.float32)
    expected = np.arange(ELEMENTS, dtype=np.float32) + np.float32(calls)
    loops = {"bridge": _loop(True, calls), "pure_callback": _loop(False, calls)}
    for name, loop in loops.items():
        got = np.asarray(loop(x))
        if not np.array_equal(got, expected):
            raise BenchmarkError(
                f"callback loop '{name}' computed {got[:4]}..., not {expected[:4]}..."
            )
    timed = {name: (lambda loop=loop: loop(x).block_until_ready()) for name, loop in loops.items()}
    ns = interleaved_median_ns(timed, items=calls, repeats=settings.callback_repeats)
    return {
        "pure_callback_ns": ns["pure_callback"],
        "bridge_ns": ns["bridge"],
        "speedup": ns["pure_callback"] / ns["bridge"],
        "calls": calls,
        "repeats": settings.callback_repeats,
    }
