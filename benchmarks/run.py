"""Runs the jax-tvm-ffi benchmark suite: the bridge against native XLA FFI, on the same data.

Usage::

    python benchmarks/run.py [--quick] [--json PATH] [--reference-python PATH | --no-reference]

In one run it measures (see benchmarks/README.md):

1. XLA loop: a jitted ``fori_loop`` of custom calls, native typed handler against the bridge;
2. handler alone: one call on a synthetic call frame, with heap allocations per call (C++);
3. Python callbacks: a NumPy callback through the bridge against ``jax.pure_callback``;
4. scaling: per-call cost against tensor count and rank, and registration time;
5. instructions: per XLA loop iteration, counted by callgrind, native against the bridge and
   against the published jax-tvm-ffi 0.1.3 (from a venv made by ``reference_env.py``, or PATH);
7. embedded load: compile and first call of a fresh program, the kernel embedded against by name.

It prints tables, and writes the results as JSON to PATH with a plot beside it (same stem,
``.png``); without ``--json`` both go to a new temporary directory, named at the end. Timings
are reported, never checked: the exit status is non-zero only when something failed to build or
run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import jax
import jaxlib
import tvm_ffi

import bench_callbacks
import bench_embedded_load
import bench_handler
import bench_instructions
import bench_registration
import bench_signature
import bench_xla_loop
import native_build
import reference_env
import report
from common import FULL, QUICK, BenchmarkError, Settings

T = TypeVar("T")


def _step(label: str, action: Callable[[], T]) -> T:
    """Runs one stage, reporting it and its duration on stderr."""
    print(f"[bench] {label} ...", end="", file=sys.stderr, flush=True)
    start = time.perf_counter()
    result = action()
    print(f" {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return result


def _reference(reference_python: str | None, use_reference: bool) -> reference_env.Reference:
    """The reference environment the instruction counts compare with, or why there is none."""
    if not use_reference:
        return reference_env.Reference(None, "--no-reference was given")
    if shutil.which("valgrind") is None:
        # No count will run: making a venv for it would only cost time.
        return reference_env.Reference(None, "valgrind is not installed")
    if reference_python is not None:
        return reference_env.check(reference_python)
    return _step(f"reference environment ({reference_env.VENV_DIR})", reference_env.ensure)


def _instructions(
    artifacts: native_build.Artifacts, reference: reference_env.Reference
) -> dict[str, Any]:
    """Section 5; the bridge's worker failing is an error, the reference's only a note."""
    try:
        section = bench_instructions.run(
            artifacts.kernel_library, artifacts.marks_library, reference.python, reference.why
        )
    except RuntimeError as error:
        raise BenchmarkError(f"counting instructions failed: {error}") from error
    if section["available"]:
        section["reference_versions"] = reference.versions
    return section


def run_all(
    settings: Settings, reference_python: str | None = None, use_reference: bool = True
) -> dict[str, Any]:
    """Builds the C++ side and runs every measurement; returns the results by JSON key.

    Args:
      settings: quick or full.
      reference_python: a Python with jax-tvm-ffi 0.1.3 for the instruction counts; without it
        the cached venv of ``reference_env`` is used (made first when missing).
      use_reference: False to count without the reference.
    """
    artifacts = _step("building benchmarks/cpp", native_build.build)
    handler, scaling = _step(
        "handler and scaling (Google Benchmark)",
        lambda: bench_handler.run(artifacts.handler_benchmark, settings),
    )
    xla_loop = _step(
        f"XLA loop ({report.process_count(settings.loop_processes)})",
        lambda: bench_xla_loop.run_in_processes(artifacts.kernel_library, settings),
    )
    kernels = bench_xla_loop.register_targets(artifacts.kernel_library)
    callbacks = _step("Python callbacks", lambda: bench_callbacks.run(settings))
    signature = _step("kernel signature", lambda: bench_signature.run(settings))
    registration = _step(
        "registration", lambda: bench_registration.run(kernels.bridge_function, settings)
    )
    embedded_load = _step(
        "embedded load",
        lambda: bench_embedded_load.run(
            artifacts.kernel_library, rounds=5 if settings.name == "quick" else 21
        ),
    )
    # Last, so that no valgrind process shares the machine with the timed stages.
    reference = _reference(reference_python, use_reference)
    instructions = _step(
        "instructions (callgrind, "
        + ("bridge and reference at once)" if reference.python else "no reference)"),
        lambda: _instructions(artifacts, reference),
    )
    return {
        "xla_loop": xla_loop,
        "handler": handler,
        "python_callback": callbacks,
        "kernel_signature": signature,
        "scaling": scaling,
        "registration": registration,
        "instructions": instructions,
        "embedded_load": embedded_load,
    }


def _meta(settings: Settings, seconds: float, warnings: list[str]) -> dict[str, Any]:
    return {
        "mode": settings.name,
        "seconds": seconds,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "tvm_ffi": tvm_ffi.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "warnings": warnings,
    }


def main(argv: list[str] | None = None) -> int:
    """Parses the command line, runs the suite and reports; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (about a minute)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results here")
    reference = parser.add_mutually_exclusive_group()
    reference.add_argument(
        "--reference-python",
        metavar="PATH",
        help="a Python with jax-tvm-ffi 0.1.3 and this jax, jaxlib and apache-tvm-ffi, for the "
        "instruction counts (default: a venv made once in benchmarks/build/reference-venv)",
    )
    reference.add_argument(
        "--no-reference",
        action="store_true",
        help="count instructions without the reference jax-tvm-ffi 0.1.3",
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL

    warnings = [w for w in [native_build.stale_install_warning()] if w]
    for warning in warnings:
        print(f"[bench] warning: {warning}", file=sys.stderr)
    start = time.perf_counter()
    try:
        results = run_all(settings, args.reference_python, not args.no_reference)
    except BenchmarkError as error:
        print(f"\n[bench] error: {error}", file=sys.stderr)
        return 1
    results["meta"] = _meta(settings, time.perf_counter() - start, warnings)
    print(report.format_report(results))

    json_path = args.json
    if json_path is None:
        json_path = Path(tempfile.mkdtemp(prefix="jax_tvm_ffi_bench_")) / "results.json"
    report.write_json(results, json_path)
    plot_path = json_path.with_suffix(".png")
    try:
        report.save_plot(results["scaling"], plot_path)
    except ImportError:
        print(
            f"\n[bench] error: wrote {json_path} but no plot: matplotlib is not installed "
            '(pip install ".[bench]")',
            file=sys.stderr,
        )
        return 1
    print(f"\nResults: {json_path}\nPlot:    {plot_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
