"""Helpers for the ffi_function tests: the kernels of tests/data/ffi_function_kernels.cc, the
``ffi_function`` wrappers over them, pure-JAX references, and running worker scripts in fresh
processes (multi-device and multi-process JAX must be configured before JAX is imported).

Imported by the tests and by the worker scripts in tests/data/, which run with this directory
on ``sys.path``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).parent
DATA_DIR = TESTS_DIR / "data"
KERNEL_FUNCTIONS = ["rms_norm_fwd", "rms_norm_bwd", "matvec", "add_into"]
RMS_SPEC = ["args", "rets", "attrs.eps"]
# A worker that prints this prefix followed by JSON reports its findings to the test.
REPORT_PREFIX = "REPORT "


@functools.cache
def kernels() -> Any:
    """The kernels of tests/data/ffi_function_kernels.cc, JIT-compiled once (cached on disk)."""
    import tvm_ffi

    return tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_ffi_function_kernels",
        cpp_sources=(DATA_DIR / "ffi_function_kernels.cc").read_text(),
        functions=KERNEL_FUNCTIONS,
    )


def rms_norm_shapes(x: Any, *, eps: float) -> tuple[Any, Any]:
    """Result shapes of rms_norm_fwd: y like x, and one inverse RMS per row."""
    import jax

    del eps
    return x, jax.ShapeDtypeStruct(x.shape[:-1], x.dtype)


def rms_norm_reference(x: Any, eps: float) -> Any:
    import jax.numpy as jnp

    return x / jnp.sqrt(jnp.mean(x * x, axis=-1, keepdims=True) + eps)


def custom_call_shapes(hlo: str, target: str) -> list[str]:
    """The result shapes of the custom calls to ``target`` in compiled HLO text."""
    shapes = []
    for line in hlo.splitlines():
        if "custom-call(" in line and f'custom_call_target="{target}"' in line:
            shapes.append(line.split("=", 1)[1].split("custom-call(")[0].strip())
    return shapes


def collectives(hlo: str) -> list[str]:
    """The cross-device collectives in HLO text."""
    pattern = r"\b(all-gather|all-to-all|all-reduce|reduce-scatter|collective-permute)\b"
    return sorted(set(re.findall(pattern, hlo)))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(device_count: int | None = None, **extra: str) -> dict[str, str]:
    """The environment of a worker process: this directory importable, N host devices."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "host_platform_device_count" not in f]
    if device_count is not None:
        flags.append(f"--xla_force_host_platform_device_count={device_count}")
    env["XLA_FLAGS"] = " ".join(flags)
    env.pop("JAX_ENABLE_X64", None)
    env.update(extra)
    return env


def parse_report(stdout: str) -> dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith(REPORT_PREFIX):
            return json.loads(line[len(REPORT_PREFIX) :])
    raise AssertionError(f"the worker printed no report; its output:\n{stdout}")


def run_worker(
    script: str, args: Sequence[str] = (), *, timeout: float = 120, **env: Any
) -> dict[str, Any]:
    """Runs tests/data/<script> in a fresh Python and returns its report; fails on error."""
    result = subprocess.run(
        [sys.executable, str(DATA_DIR / script), *args],
        env=worker_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"{script} exited with {result.returncode}\nstdout:\n{result.stdout}\n"
        f"stderr:\n{result.stderr[-6000:]}"
    )
    return parse_report(result.stdout)


def report(**facts: Any) -> None:
    """Prints a worker's findings for parse_report."""
    print(REPORT_PREFIX + json.dumps(facts), flush=True)


def export_functions() -> tuple[Any, Any]:
    """rms_norm and matvec under fixed names: an exported artifact and a cached executable
    find their targets by name, so a fresh process must make them under the same names."""
    import jax

    import jax_tvm_ffi

    mod = kernels()
    rms = jax_tvm_ffi.ffi_function(
        mod.rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC, name="jax_tvm_ffi_test.export.rms"
    )
    matvec = jax_tvm_ffi.ffi_function(
        mod.matvec,
        lambda a, v: jax.ShapeDtypeStruct(a.shape[:-1], a.dtype),
        name="jax_tvm_ffi_test.export.matvec",
    )
    return rms, matvec
