"""Running Python code in a fresh interpreter, for cases that could end or hang the process.

``run_python`` starts ``sys.executable`` on a snippet that begins with ``PREAMBLE`` (imports and
the C++ test kernels of ``tests/data/test_kernels.cc``, loaded from the build cache the session
fixture filled) and returns the finished process; ``assert_exited`` checks that it ended by
itself with the expected exit code and without any sign of a crash.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import KERNEL_FUNCTIONS

KERNEL_SOURCE = Path(__file__).parent / "data" / "test_kernels.cc"

PREAMBLE = f"""
import sys, threading, time
from pathlib import Path
import numpy as np
import jax, jax.numpy as jnp
import tvm_ffi
import jax_tvm_ffi
kernels = tvm_ffi.cpp.load_inline(
    name="jax_tvm_ffi_test_kernels",
    cpp_sources=Path({str(KERNEL_SOURCE)!r}).read_text(),
    functions={KERNEL_FUNCTIONS!r},
)
X = jnp.array([1.0, 2.0, 3.0], jnp.float32)
def ffi(name, x=X, **attrs):
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype))(x, **attrs)
"""

# What a process that died instead of exiting leaves on stderr.
CRASH_MARKERS = (
    "Fatal Python error",
    "terminate called",
    "Segmentation fault",
    "core dumped",
    "AddressSanitizer",
    "exception not rethrown",
)


def run_python(code: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Runs PREAMBLE + ``code`` in a new interpreter; a hang past ``timeout`` fails the test."""
    return run_python_many({"code": code}, timeout)["code"]


def run_python_many(
    codes: dict[str, str], timeout: float = 120.0
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Runs PREAMBLE + each snippet in its own interpreter, all at once; returns them by name.

    A process still running after ``timeout`` seconds is killed and fails the calling test.
    """
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-c", PREAMBLE + textwrap.dedent(code)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name, code in codes.items()
    }
    deadline = time.monotonic() + timeout
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    hung: list[str] = []
    for name, process in processes.items():
        try:
            stdout, stderr = process.communicate(timeout=max(deadline - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            hung.append(f"{name}:\n{stderr}")
        results[name] = subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )
    if hung:
        raise AssertionError(f"processes hung for {timeout} s: " + "\n".join(hung))
    return results


def assert_exited(result: subprocess.CompletedProcess[str], code: int = 0) -> None:
    """Asserts the process exited by itself with ``code``: no signal, no crash message."""
    report = f"exit code {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == code, report
    for marker in CRASH_MARKERS:
        assert marker not in result.stderr, report
