"""5. Instructions per XLA loop iteration, counted by callgrind: native, the bridge, the reference.

Timings on a shared machine are noisy; instruction counts are not. Each case is a jitted
``lax.fori_loop`` whose body is one custom call, run three ways on the same kernel body:

- ``native``: a native XLA FFI handler written with XLA's typed binding;
- ``bridge``: this package calling the kernel's TVM FFI function;
- ``reference``: the published jax-tvm-ffi 0.1.3 calling the same TVM FFI function, from a
  separate Python environment (used as a black box);
- ``embedded``: this package again, with the kernel embedded in the program
  (``ffi_function(..., embed=True)``): the same call path, reached through XLA's call-site state.

Cases (kernels in ``cpp/kernels/add_scalar_kernels.cc``):

- ``add_scalar``: f32[16] in, f32[16] out, one f32 attribute;
- ``add4``: four f32[16] in, one f32[16] out, no attribute.

Method: every loop is compiled and run once first; then valgrind's callgrind counts the
instructions of runs of each loop at two lengths, between client requests made around each run
only (``cpp/kernels/callgrind_marks.c``, through ctypes), per thread; it keeps the busiest
thread's count (the one that runs the loop: a thread waiting for it spins for as long as
valgrind's scheduler lets it, which depends on the machine's load; counting all threads gave
native add4 anywhere from 952 to 1,530 per iteration on a loaded machine) and the fewest of three
runs per length, and takes the difference of the two counts divided by the difference of the
lengths, so that the call from Python into the executable and the loop's setup cancel out.

Run alone::

    python benchmarks/bench_instructions.py [--reference-python PATH]

Needs valgrind. ``PATH`` is a Python with jax-tvm-ffi 0.1.3, the same jax and the same
apache-tvm-ffi as this one (see ``reference_env.py``, which makes one).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Loop lengths: long enough that one run's constant costs are small next to the difference,
# short enough for valgrind (about 50x slower than native on the instrumented part).
SHORT = 200
LONG = 1200
# Runs counted of each loop; the fewest instructions are kept (see _count).
REPEATS = 3
ELEMENTS = 16


@dataclass(frozen=True)
class Case:
    """One loop body: a kernel exported natively and as a TVM FFI function.

    Attributes:
      name: the case's key in the results.
      native_symbol: the native handler's symbol in the kernel library.
      tvm_function: the TVM FFI function's name in the kernel library.
      arg_spec: the bridge's arg spec for the function.
      num_inputs: f32[ELEMENTS] inputs of the call (the loop carries them all).
      attrs: the call's attributes.
      description: what one call passes, for the report.
    """

    name: str
    native_symbol: str
    tvm_function: str
    arg_spec: tuple[str, ...]
    num_inputs: int
    attrs: tuple[tuple[str, float], ...]
    description: str


CASES = (
    Case(
        name="add_scalar",
        native_symbol="JaxTvmFfiBenchAddScalarNative",
        tvm_function="add_scalar",
        arg_spec=("args", "rets", "attrs.attr"),
        num_inputs=1,
        attrs=(("attr", 1.0),),
        description="f32[16] in, f32[16] out, one f32 attribute",
    ),
    Case(
        name="add4",
        native_symbol="JaxTvmFfiBenchAdd4Native",
        tvm_function="add4",
        arg_spec=("args", "rets"),
        num_inputs=4,
        attrs=(),
        description="four f32[16] in, one f32[16] out, no attribute",
    ),
)


def _worker(kernel_library: str, marks_library: str, side: str) -> None:
    """Runs inside valgrind: registers each case, warms its loops, counts one run of each.

    ``side`` names the bridge in this environment ("bridge" or "reference"); the native handler
    is counted in every environment, as a check that both runs measure the same thing.
    """
    import jax
    import jax.numpy as jnp
    import tvm_ffi

    import jax_tvm_ffi

    marks = ctypes.CDLL(marks_library)
    marks.jax_tvm_ffi_bench_count_stop.argtypes = [ctypes.c_char_p]
    library = ctypes.CDLL(kernel_library)
    module = tvm_ffi.load_module(kernel_library)
    for case in CASES:
        native = f"jax_tvm_ffi_bench.{case.name}.native"
        bridged = f"jax_tvm_ffi_bench.{case.name}.{side}"
        jax.ffi.register_ffi_target(
            native, jax.ffi.pycapsule(getattr(library, case.native_symbol)), platform="cpu"
        )
        jax_tvm_ffi.register_ffi_target(
            bridged,
            getattr(module, case.tvm_function),
            arg_spec=list(case.arg_spec),
            platform="cpu",
        )
        inputs = tuple(jnp.full((ELEMENTS,), float(i), jnp.float32) for i in range(case.num_inputs))
        targets: list[tuple[Any, str]] = [(native, "native"), (bridged, side)]
        if side == "bridge":
            embedded = jax_tvm_ffi.ffi_function(
                getattr(module, case.tvm_function),
                jax.ShapeDtypeStruct((ELEMENTS,), jnp.float32),
                arg_spec=list(case.arg_spec),
                embed=True,
            )
            targets.append((embedded, "embedded"))
        for target, label in targets:
            for iterations in (SHORT, LONG):
                loop = _loop(jax, target, case, iterations)
                got = np.asarray(loop(*inputs)[0])
                expected = _expected(case, inputs, iterations)
                if not np.allclose(got, expected):
                    raise SystemExit(f"{case.name}/{label}: computed {got[:4]}, not {expected[:4]}")
                loop(*inputs)[0].block_until_ready()
                for repeat in range(REPEATS):
                    marks.jax_tvm_ffi_bench_count_start()
                    loop(*inputs)[0].block_until_ready()
                    marks.jax_tvm_ffi_bench_count_stop(
                        f"{case.name}/{label}/{iterations}/{repeat}".encode()
                    )


def _loop(jax: Any, target: Any, case: Case, iterations: int) -> Any:
    """A jitted loop of ``iterations`` custom calls; the result replaces the first input.

    ``target`` is a registered target's name, or a callable (an embedded ``ffi_function``).
    """
    attrs = {name: np.float32(value) for name, value in case.attrs}

    def step(_: Any, carry: tuple[Any, ...]) -> tuple[Any, ...]:
        if callable(target):
            return (target(*carry, **attrs), *carry[1:])
        result = jax.ShapeDtypeStruct(carry[0].shape, carry[0].dtype)
        return (jax.ffi.ffi_call(target, result)(*carry, **attrs), *carry[1:])

    return jax.jit(lambda *xs: jax.lax.fori_loop(0, iterations, step, xs))


def _expected(case: Case, inputs: tuple[Any, ...], iterations: int) -> Any:
    """What the loop computes, in NumPy."""
    y = np.asarray(inputs[0]).copy()
    others = sum(np.asarray(x) for x in inputs[1:]) if case.num_inputs > 1 else 0.0
    attr = np.float32(sum(value for _, value in case.attrs))
    for _ in range(iterations):
        y = y + others + attr
    return y


def _count(python: str, kernel_library: Path, marks_library: Path, side: str) -> dict[str, int]:
    """Runs the worker under callgrind in ``python``; returns instructions by dump label."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}",
            python,
            __file__,
            "--worker",
            str(kernel_library),
            str(marks_library),
            side,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the callgrind worker ({side}) failed:\n{done.stderr[-4000:]}")
        by_run: dict[str, int] = {}
        for dump in Path(scratch).glob("callgrind.out*"):
            text = dump.read_text(errors="replace")
            label = re.search(r"^desc: Trigger: Client Request: (\S+)$", text, re.M)
            total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if label and total:
                # One file per thread: the run's count is its busiest thread's, the one that
                # runs the loop. A thread waiting for it spins for as long as the scheduler lets
                # it, which depends on the machine's load, not on the loop.
                by_run[label[1]] = max(by_run.get(label[1], 0), int(total[1]))
        counts: dict[str, int] = {}
        for run, total in by_run.items():
            # The fewest of the repeats: housekeeping on the loop's thread only ever adds.
            key = run.rsplit("/", 1)[0]
            counts[key] = min(counts.get(key, total), total)
        return counts


def _per_iteration(counts: dict[str, int], case: str, label: str) -> float:
    short = counts[f"{case}/{label}/{SHORT}"]
    long = counts[f"{case}/{label}/{LONG}"]
    return (long - short) / (LONG - SHORT)


def run(
    kernel_library: Path,
    marks_library: Path | None,
    reference_python: str | None,
    reference_why: str | None = None,
) -> dict:
    """Counts every case; returns the section's JSON.

    The two environments are counted at the same time, in two processes (the counts do not
    depend on what else runs; the wall time halves). A reference worker that fails costs only
    the reference's figures: the section then says why they are missing.

    Args:
      reference_why: why there is no reference, recorded when ``reference_python`` is None.

    Returns:
      ``{"available": False, "why": ...}`` when valgrind or the markers are missing; else
      ``method``, ``short``/``long`` (loop lengths), ``reference_measured``, ``reference_why``
      and ``cases``: per case its ``description``, ``native``, ``bridge`` and (with a reference)
      ``reference`` instructions per iteration, ``bridge_minus_native``,
      ``reference_minus_native`` and ``native_in_reference_run``.

    Raises:
      RuntimeError: the worker in this environment failed.
    """
    if shutil.which("valgrind") is None:
        return {"available": False, "why": "valgrind is not installed"}
    if marks_library is None or not marks_library.exists():
        return {"available": False, "why": "valgrind's headers were missing at build time"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs_future = None
        if reference_python is not None:
            theirs_future = pool.submit(
                _count, reference_python, kernel_library, marks_library, "reference"
            )
        ours = _count(sys.executable, kernel_library, marks_library, "bridge")
        theirs = None
        if theirs_future is not None:
            try:
                theirs = theirs_future.result()
            except RuntimeError as error:
                reference_why = str(error)
    cases = {}
    for case in CASES:
        native = _per_iteration(ours, case.name, "native")
        row = {
            "description": case.description,
            "native": native,
            "bridge": _per_iteration(ours, case.name, "bridge"),
        }
        row["bridge_minus_native"] = row["bridge"] - native
        if f"{case.name}/embedded/{SHORT}" in ours:
            row["embedded"] = _per_iteration(ours, case.name, "embedded")
            row["embedded_over_bridge"] = row["embedded"] / row["bridge"]
        if theirs is not None:
            row["reference"] = _per_iteration(theirs, case.name, "reference")
            row["reference_minus_native"] = row["reference"] - native
            row["native_in_reference_run"] = _per_iteration(theirs, case.name, "native")
        cases[case.name] = row
    return {
        "available": True,
        "method": (
            "callgrind, (count(long) - count(short)) / (long - short), the loop's thread, "
            "fewest of 3 runs"
        ),
        "short": SHORT,
        "long": LONG,
        "reference_python": reference_python,
        "reference_measured": theirs is not None,
        "reference_why": None if theirs is not None else reference_why,
        "cases": cases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, metavar=("KERNELS", "MARKS", "SIDE"))
    parser.add_argument("--reference-python", help="a Python with jax-tvm-ffi 0.1.3 installed")
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    sys.path.insert(0, str(Path(__file__).parent))
    import native_build

    artifacts = native_build.build()
    print(
        json.dumps(
            run(artifacts.kernel_library, artifacts.marks_library, args.reference_python), indent=2
        )
    )


if __name__ == "__main__":
    main()
