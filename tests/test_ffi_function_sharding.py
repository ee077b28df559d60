"""ffi_function targets on 4 CPU devices in one process (a subprocess, since the device count
must be set before JAX starts): shard_map, and jit on sharded inputs with a batch-partitionable
target that runs on each device's shard without gathering the inputs."""

from __future__ import annotations

from typing import Any

import pytest
from ffi_function_support import kernels, run_worker


@pytest.fixture(scope="module")
def facts() -> dict[str, Any]:
    kernels()  # compile once here, so the worker only loads the cached module
    return run_worker("sharding_worker.py", device_count=4)


def test_shard_map_calls_the_kernel_per_shard(facts: dict[str, Any]) -> None:
    assert facts["shard_map_local_shapes"] == [[2, 16]]
    assert facts["shard_map_y_error"] < 1e-5
    assert facts["shard_map_y_sharding"] == ["x"]


def test_shard_map_reduction_matches_the_unsharded_computation(facts: dict[str, Any]) -> None:
    assert facts["shard_map_total_error"] < 1e-4


@pytest.mark.parametrize("partitioner", ["shardy", "gspmd"])
def test_batch_partitionable_target_runs_on_local_shards(
    facts: dict[str, Any], partitioner: str
) -> None:
    run = facts[f"partitionable_{partitioner}"]
    assert run["custom_call_shapes"] == ["(f32[2,16]{1,0}, f32[2]{0})"]
    assert run["collectives"] == []  # no all-gather of the inputs, nothing gathered after
    assert run["out_spec"] == ["x"]
    assert run["out_shard_shapes"] == [[2, 16]]
    assert run["error"] < 1e-5


def test_plain_target_is_gathered_to_every_device(facts: dict[str, Any]) -> None:
    run = facts["plain_shardy"]
    assert run["custom_call_shapes"] == ["(f32[8,16]{1,0}, f32[8]{0})"]
    assert "all-gather" in run["collectives"]
    assert run["error"] < 1e-5


def test_batch_partitionable_inside_shard_map(facts: dict[str, Any]) -> None:
    assert facts["partitionable_in_shard_map_error"] < 1e-5
