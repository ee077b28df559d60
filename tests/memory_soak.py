"""Memory soak: many bridged calls must not make resident memory grow.

Runs ``--calls`` calls of bridged targets and reports how resident memory (RSS, from
/proc/self/statm) changed from call 10,000 to the last. The calls come in jitted
``lax.fori_loop``s, five per iteration, each on the previous one's result so that XLA can neither
hoist nor drop any of them:

- a C++ kernel on borrowed views (``add_one_f32``) and the same kernel with owned tensors;
- a C++ kernel with scalar and string attributes (``affine_attrs``: f64, i64, bool, str);
- a C++ kernel with an array attribute (``sum_array_attr``);
- a Python callback with a dictionary attribute (owned tensors, a ``tvm_ffi.Map``).

Between loops come failing calls, eager and jitted: a C++ kernel that throws, a missing attribute,
a Python callback that raises, and one that keeps an owned tensor (it replaces the one it kept
before, so the script itself holds at most one).

    python tests/memory_soak.py --calls 1000000     # the full run, by hand
    python tests/memory_soak.py --calls 100000 --json   # what tests/test_memory.py runs

With ``--reregistrations N`` it soaks re-registration instead: 50 re-registrations of Python
callbacks that each hold a 10 MB model (every one called once), then ``N`` re-registrations of a
C++ kernel, and reports how resident memory changed over the 50 (``models_growth_mb``) and from
re-registration 10,000 to the last (``growth_mb``). A registry that kept replaced functions would
grow by 500 MB over the models.

Prints the figures; with ``--json``, one JSON line. Exits 1 if memory grew ``--limit-mb`` or more.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import tvm_ffi  # noqa: E402
from conftest import KERNEL_FUNCTIONS  # noqa: E402  (also enables 64-bit types)

import jax_tvm_ffi  # noqa: E402

CALLS_PER_ITERATION = 5
BASELINE_CALLS = 10_000
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
N = 64  # elements per tensor


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def register_targets() -> None:
    kernels = tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_test_kernels",
        cpp_sources=(Path(__file__).parent / "data" / "test_kernels.cc").read_text(),
        functions=KERNEL_FUNCTIONS,
    )
    register = jax_tvm_ffi.register_ffi_target
    register("soak.view", kernels.add_one_f32)
    register("soak.owned", kernels.add_one_f32, pass_owned_tensor=True)
    register(
        "soak.scalars",
        kernels.affine_attrs,
        ["args", "rets", "attrs.scale", "attrs.offset", "attrs.negate", "attrs.mode"],
    )
    register("soak.array", kernels.sum_array_attr, ["rets", "attrs.values"])
    register("soak.throws", kernels.throw_value_error)

    def with_config(x: Any, y: Any, config: Any) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) * config["scale"] + len(config["tag"])

    register("soak.dict", with_config, ["args", "rets", "attrs.config"])

    def raises(x: Any, y: Any) -> None:
        raise KeyError("soak")

    register("soak.raises", raises)
    kept: list[Any] = [None]

    def keeps(x: Any, y: Any) -> None:
        kept[0] = y  # a kept result fails the call (a kept CPU input would not)

    register("soak.keeps", keeps)


def call(name: str, x: jax.Array, shape: tuple[int, ...] = (N,), dtype: Any = None, **attrs: Any):
    result = jax.ShapeDtypeStruct(shape, dtype or x.dtype)
    return jax.ffi.ffi_call(name, result)(x, **attrs)


def iteration(_: Any, x: jax.Array) -> jax.Array:
    """Five bridged calls, each on the previous result; returns x - 2 (x stays bounded)."""
    y = call("soak.view", x)  # x + 1
    y = call("soak.owned", y)  # x + 2
    y = call("soak.scalars", y, scale=0.5, offset=1, negate=False, mode="affine")  # x / 2 + 2
    y = call("soak.dict", y, config={"scale": 2.0, "tag": "ab"})  # x + 6
    total = call("soak.array", y, shape=(1,), dtype=jnp.int64, values=np.array([1, 2, 3]))
    return y - 8 + total.astype(jnp.float32)[0] / 6  # x - 2 + 1 = x - 1, plus 1 below


def make_loop(iterations: int) -> Any:
    @jax.jit
    def loop(x: jax.Array) -> jax.Array:
        return jax.lax.fori_loop(0, iterations, lambda i, v: iteration(i, v) + 1, x)

    return loop


FAILING = [
    ("soak.throws", {}),
    ("soak.scalars", {"scale": 1.0}),  # lacks offset, negate and mode
    ("soak.raises", {}),
    ("soak.keeps", {}),
]


def make_failing_calls() -> list[tuple[str, Any]]:
    """Eager and jitted runs of each failing call, made once so JAX compiles each once."""
    runs = []
    for name, attrs in FAILING:

        def run(v: jax.Array, name: str = name, attrs: dict[str, Any] = attrs) -> jax.Array:
            return call(name, v, **attrs)

        runs += [(name, run), (name, jax.jit(run))]
    return runs


def failing_calls(runs: list[tuple[str, Any]]) -> int:
    """Makes each failing call once; returns how many failed naming their target."""
    x = jnp.ones((N,), jnp.float32)
    failures = 0
    for name, run in runs:
        try:
            jax.block_until_ready(run(x))
        except jax.errors.JaxRuntimeError as error:
            failures += name in str(error)
    return failures


def soak(calls: int, iterations_per_loop: int) -> dict[str, Any]:
    register_targets()
    loop = make_loop(iterations_per_loop)
    runs = make_failing_calls()
    per_loop = iterations_per_loop * CALLS_PER_ITERATION
    x = jnp.arange(N, dtype=jnp.float32)
    done = failed = 0
    baseline = peak = 0
    started = time.perf_counter()
    while done < calls:
        out = loop(x)
        jax.block_until_ready(out)
        done += per_loop
        if not np.array_equal(np.asarray(out), np.asarray(x)):
            raise AssertionError("a bridged call in the loop computed a wrong result")
        failures = failing_calls(runs)
        if failures != len(runs):
            raise AssertionError(f"{failures} of {len(runs)} failing calls failed as expected")
        done += len(runs)
        failed += len(runs)
        rss = resident_bytes()
        if baseline == 0 and done >= BASELINE_CALLS:
            baseline = rss
        peak = max(peak, rss)
    final = resident_bytes()
    return {
        "calls": done,
        "failing_calls": failed,
        "seconds": round(time.perf_counter() - started, 1),
        "rss_at_10k_mb": round(baseline / 2**20, 2),
        "rss_final_mb": round(final / 2**20, 2),
        "rss_peak_mb": round(peak / 2**20, 2),
        "growth_mb": round((final - baseline) / 2**20, 3),
    }


MODELS = 50
MODEL_BYTES = 10 * 2**20
# The allocator may keep a freed model or two for reuse; keeping every one would be 500 MB.
MODELS_LIMIT_MB = 30.0


def holding(model: np.ndarray) -> Any:
    """A callback that holds ``model`` (as a model's weights would be) and computes y = x + 1."""

    def add_one(x: Any, y: Any) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) + 1 + model[:1] * 0

    return add_one


def reregistration_soak(count: int) -> dict[str, Any]:
    kernels = tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_test_kernels",
        cpp_sources=(Path(__file__).parent / "data" / "test_kernels.cc").read_text(),
        functions=KERNEL_FUNCTIONS,
    )
    register = jax_tvm_ffi.register_ffi_target
    x = jnp.arange(N, dtype=jnp.float32)
    started = time.perf_counter()
    models_baseline = 0
    for i in range(MODELS):
        register("soak.model", holding(np.full(MODEL_BYTES // 8, i, np.float64)))
        if not np.array_equal(np.asarray(call("soak.model", x)), np.asarray(x) + 1):
            raise AssertionError("a re-registered callback computed a wrong result")
        if i == 0:
            models_baseline = resident_bytes()
    models_final = resident_bytes()
    baseline = 0
    for i in range(count):
        register("soak.reregistered", kernels.times_two_f32 if i % 2 else kernels.add_one_f32)
        if i + 1 == BASELINE_CALLS:
            baseline = resident_bytes()
    final = resident_bytes()
    expected = np.asarray(x) * 2 if count % 2 == 0 else np.asarray(x) + 1
    if not np.array_equal(np.asarray(call("soak.reregistered", x)), expected):
        raise AssertionError("the last registration is not the one that runs")
    return {
        "reregistrations": count,
        "seconds": round(time.perf_counter() - started, 1),
        "models": MODELS,
        "models_growth_mb": round((models_final - models_baseline) / 2**20, 3),
        "rss_at_10k_mb": round(baseline / 2**20, 2),
        "rss_final_mb": round(final / 2**20, 2),
        "growth_mb": round((final - baseline) / 2**20, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--iterations-per-loop", type=int, default=2_000)
    parser.add_argument("--limit-mb", type=float, default=2.0)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument(
        "--reregistrations", type=int, default=0, help="soak re-registration instead of calls"
    )
    args = parser.parse_args()
    if args.reregistrations:
        result = reregistration_soak(args.reregistrations)
    else:
        result = soak(args.calls, args.iterations_per_loop)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")
    grew = (
        result["growth_mb"] >= args.limit_mb or result.get("models_growth_mb", 0) >= MODELS_LIMIT_MB
    )
    return 1 if grew else 0


if __name__ == "__main__":
    sys.exit(main())
