"""Builds the C++ side of the suite (``benchmarks/cpp``) with CMake into ``benchmarks/build``.

The build compiles the core from the project's own CMakeLists, so the handler benchmark always
measures the sources in the working tree; the Python benchmarks measure the installed package.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from common import BenchmarkError

BENCH_DIR = Path(__file__).resolve().parent
ROOT_DIR = BENCH_DIR.parent
SOURCE_DIR = BENCH_DIR / "cpp"
BUILD_DIR = BENCH_DIR / "build"


@dataclass(frozen=True)
class Artifacts:
    """What the build produces.

    Attributes:
      handler_benchmark: the Google Benchmark program (handler alone, scaling).
      kernel_library: the XLA loop's kernel, exported as a native XLA FFI handler
        (``JaxTvmFfiBenchAddScalarNative``) and as a TVM FFI function (``add_scalar``).
      marks_library: callgrind's client requests as C functions; absent when valgrind's headers
        were not installed.
    """

    handler_benchmark: Path
    kernel_library: Path
    marks_library: Path


def _ninja() -> str | None:
    """Ninja from PATH, or the one pip installed beside this Python."""
    found = shutil.which("ninja")
    if found:
        return found
    beside = Path(sys.executable).with_name("ninja")
    return str(beside) if beside.exists() else None


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        tail = "\n".join(output[-40:])
        raise BenchmarkError(f"{what} failed ({' '.join(command)}):\n{tail}")


def build() -> Artifacts:
    """Configures (first time only) and builds ``benchmarks/cpp``; incremental afterwards.

    Raises:
      BenchmarkError: CMake, a dependency or the compiler failed; the message ends with the
        tail of the build log.
    """
    cmake = shutil.which("cmake")
    if cmake is None:
        raise BenchmarkError("cmake is not on PATH; the C++ benchmarks need CMake >= 3.18")
    if not (BUILD_DIR / "CMakeCache.txt").exists():
        configure = [cmake, "-S", str(SOURCE_DIR), "-B", str(BUILD_DIR)]
        configure.append(f"-DPython_EXECUTABLE={sys.executable}")
        configure.append("-DCMAKE_BUILD_TYPE=Release")
        ninja = _ninja()
        if ninja:
            configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
        _run(configure, "configuring the C++ benchmarks")
    _run([cmake, "--build", str(BUILD_DIR), "--parallel"], "building the C++ benchmarks")
    return Artifacts(
        handler_benchmark=BUILD_DIR / "handler_benchmark",
        kernel_library=BUILD_DIR / "kernels" / "libadd_scalar_kernels.so",
        marks_library=BUILD_DIR / "kernels" / "libcallgrind_marks.so",
    )


def stale_install_warning() -> str | None:
    """Says so when the installed package's core is older than the sources in this tree.

    The Python benchmarks run the installed ``jax_tvm_ffi``; after a change to the core it must
    be reinstalled (``pip install .``) for them to measure it.
    """
    import jax_tvm_ffi

    installed = Path(jax_tvm_ffi.__file__).with_name("libjax_tvm_ffi.so")
    if not installed.exists():
        return None
    sources = [
        path
        for folder in ("src", "include")
        for path in (ROOT_DIR / folder).rglob("*")
        if path.is_file()
    ]
    if not sources:
        return None
    newest = max(sources, key=lambda path: path.stat().st_mtime)
    if newest.stat().st_mtime <= installed.stat().st_mtime:
        return None
    return (
        f"the installed jax_tvm_ffi ({installed}) is older than "
        f"{newest.relative_to(ROOT_DIR)}: the Python benchmarks measure the installed package, "
        "run `pip install .` to measure the working tree"
    )
