"""6. A kernel library's signature: bound directly by the arg spec, against a Python wrapper.

The kernel is ``examples/kernel_signature.py``'s RoPE, ``(q, k, q_rope, k_rope, cos_sin_cache,
positions, maybe_scale, interleave)``: outputs among the inputs and an optional tensor. Two
targets call it from a jitted ``lax.fori_loop`` (``(q, k)`` carried, the scale absent):

- ``direct``: registered as it is, with the arg spec naming every buffer by index
  (``["args.0", "args.1", "rets.0", "rets.1", "args.2", "args.3", "args.4?",
  "attrs.interleave"]``): no Python in the call path;
- ``python_wrapper``: the way published examples bind such kernels, a Python function registered
  with ``pass_owned_tensor=True`` that reorders the tensors, turns the empty scale into None and
  calls the kernel.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jax_tvm_ffi
from common import BenchmarkError, Settings, interleaved_median_ns

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import kernel_signature  # noqa: E402

DIRECT_TARGET = "jax_tvm_ffi_bench.rope.direct"
WRAPPER_TARGET = "jax_tvm_ffi_bench.rope.python_wrapper"
TOKENS, DIM, MAX_POS = 4, 16, 8


def _register(module: Any) -> None:
    jax_tvm_ffi.register_ffi_target(
        DIRECT_TARGET, module.apply_rope, arg_spec=kernel_signature.ROPE_ARG_SPEC
    )

    def wrapper(q, k, cos_sin, positions, scale, q_rope, k_rope, interleave):
        maybe_scale = None if 0 in tuple(scale.shape) else scale
        module.apply_rope(q, k, q_rope, k_rope, cos_sin, positions, maybe_scale, interleave)

    jax_tvm_ffi.register_ffi_target(
        WRAPPER_TARGET,
        wrapper,
        arg_spec=["args", "rets", "attrs.interleave"],
        pass_owned_tensor=True,
    )


def _loop(target: str, calls: int) -> Any:
    def step(_: Any, carry: tuple[Any, ...]) -> tuple[Any, ...]:
        q, k, cos_sin, positions, scale = carry
        results = (jax.ShapeDtypeStruct(q.shape, q.dtype), jax.ShapeDtypeStruct(k.shape, k.dtype))
        q, k = jax.ffi.ffi_call(target, results)(q, k, cos_sin, positions, scale, interleave=False)
        return q, k, cos_sin, positions, scale

    return jax.jit(lambda *xs: jax.lax.fori_loop(0, calls, step, xs)[:2])


def run(settings: Settings) -> dict[str, Any]:
    """Times both targets on the same inputs; checks that they agree with each other and JAX.

    Returns:
      ``direct_ns`` and ``python_wrapper_ns`` (per call, median of
      ``settings.callback_repeats`` runs), ``speedup`` (wrapper / direct), ``calls``.

    Raises:
      BenchmarkError: a loop computed a wrong result.
    """
    _register(kernel_signature.build())
    calls = settings.callback_calls
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    q = jax.random.normal(keys[0], (TOKENS, DIM), jnp.float32)
    k = jax.random.normal(keys[1], (TOKENS, DIM), jnp.float32)
    # True rotations, so that norms stay put over many calls.
    angles = jnp.arange(MAX_POS)[:, None] * (0.5 ** jnp.arange(DIM // 2))[None, :]
    cos_sin = jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=1).astype(jnp.float32)
    positions = jnp.arange(TOKENS, dtype=jnp.int32)
    absent = jnp.zeros((0,), jnp.float32)
    inputs = (q, k, cos_sin, positions, absent)
    one_step = kernel_signature.rope_reference(q, k, cos_sin, positions, None, False)
    for target in (DIRECT_TARGET, WRAPPER_TARGET):
        got = _loop(target, 1)(*inputs)
        for g, w in zip(got, one_step, strict=True):
            if not np.allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5):
                raise BenchmarkError(f"{target} computed {np.asarray(g)[0, :4]}, not {w[0, :4]}")
    loops = {"direct": _loop(DIRECT_TARGET, calls), "python_wrapper": _loop(WRAPPER_TARGET, calls)}
    results = {name: [np.asarray(x) for x in loop(*inputs)] for name, loop in loops.items()}
    for a, b in zip(results["direct"], results["python_wrapper"], strict=True):
        if not np.array_equal(a, b):
            raise BenchmarkError(f"the direct and the wrapped RoPE disagree after {calls} calls")
    timed = {
        name: (lambda loop=loop: jax.block_until_ready(loop(*inputs)))
        for name, loop in loops.items()
    }
    ns = interleaved_median_ns(timed, items=calls, repeats=settings.callback_repeats)
    return {
        "direct_ns": ns["direct"],
        "python_wrapper_ns": ns["python_wrapper"],
        "speedup": ns["python_wrapper"] / ns["direct"],
        "calls": calls,
        "repeats": settings.callback_repeats,
    }
