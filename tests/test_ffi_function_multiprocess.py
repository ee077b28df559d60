"""ffi_function targets across processes: 2 JAX processes (jax.distributed, coordinator on
127.0.0.1, gloo CPU collectives), 2 CPU devices each. A jitted program over the global mesh of
4 devices calls a bridged kernel per shard and reduces across processes; both processes must
get the answer computed here without JAX."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest
from ffi_function_support import DATA_DIR, free_port, kernels, parse_report, worker_env

NUM_PROCESSES = 2
TIMEOUT_S = 120


def run_processes() -> list[dict[str, Any]]:
    kernels()  # compile once here, so the workers only load the cached module
    address = f"127.0.0.1:{free_port()}"
    env = worker_env(device_count=2)
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(DATA_DIR / "multiprocess_worker.py"),
                address,
                str(NUM_PROCESSES),
                str(i),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(NUM_PROCESSES)
    ]
    outputs = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        for process in processes:
            remaining = max(1.0, deadline - time.monotonic())
            outputs.append(process.communicate(timeout=remaining)[0])
    except subprocess.TimeoutExpired:
        pytest.fail(f"the {NUM_PROCESSES} JAX processes did not finish in {TIMEOUT_S} s")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for i, (process, output) in enumerate(zip(processes, outputs, strict=True)):
        assert process.returncode == 0, f"process {i} exited with {process.returncode}:\n{output}"
    return [parse_report(output) for output in outputs]


@pytest.fixture(scope="module")
def reports() -> list[dict[str, Any]]:
    return run_processes()


def expected() -> tuple[np.ndarray, float]:
    x = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    y = x / np.sqrt((x.astype(np.float64) ** 2).mean(axis=1, keepdims=True) + 1e-6)
    return y.sum(axis=0), float(y.sum())


def test_each_process_sees_the_global_mesh(reports: list[dict[str, Any]]) -> None:
    assert sorted(r["process_index"] for r in reports) == list(range(NUM_PROCESSES))
    for r in reports:
        assert (r["process_count"], r["local_devices"], r["global_devices"]) == (2, 2, 4)


def test_shard_map_with_cross_process_psum(reports: list[dict[str, Any]]) -> None:
    column_sums, _ = expected()
    for r in reports:
        np.testing.assert_allclose(r["column_sums"], column_sums, rtol=1e-5, atol=1e-5)


def test_batch_partitionable_target_with_cross_process_reduction(
    reports: list[dict[str, Any]],
) -> None:
    _, total = expected()
    for r in reports:
        assert r["custom_call_shapes"] == ["(f32[2,16]{1,0}, f32[2]{0})"]
        assert abs(r["total"] - total) < 1e-4
