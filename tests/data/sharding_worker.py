"""Worker for tests/test_ffi_function_sharding.py: 4 host devices in one process.

Run with XLA_FLAGS=--xla_force_host_platform_device_count=4 (set by the test before JAX is
imported). Reports, as JSON, what the test asserts on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from ffi_function_support import (
    RMS_SPEC,
    collectives,
    custom_call_shapes,
    kernels,
    report,
    rms_norm_reference,
    rms_norm_shapes,
)
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import jax_tvm_ffi

EPS = 1e-6


def partition_entries(sharding: jax.sharding.Sharding) -> list[object]:
    """The entries of a NamedSharding's PartitionSpec, one per dimension: values compare across
    jax versions, the repr does not (jax 0.6 writes "PartitionSpec('x',)", jax 0.10 "P('x',)")."""
    assert isinstance(sharding, NamedSharding), sharding
    return list(sharding.spec)


def main() -> None:
    mod = kernels()
    assert jax.device_count() == 4, jax.devices()
    mesh = jax.make_mesh((4,), ("x",), axis_types=(jax.sharding.AxisType.Auto,))
    x = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    reference = np.asarray(rms_norm_reference(jnp.asarray(x), EPS))
    facts: dict[str, object] = {}

    # shard_map: each of the 4 shards calls the kernel on its 2 rows.
    matvec = jax_tvm_ffi.ffi_function(
        mod.matvec, lambda a, v: jax.ShapeDtypeStruct(a.shape[:-1], a.dtype)
    )
    rms = jax_tvm_ffi.ffi_function(mod.rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC)
    local_shapes: list[tuple[int, ...]] = []

    def per_shard(a: jax.Array, v: jax.Array) -> tuple[jax.Array, jax.Array]:
        local_shapes.append(tuple(a.shape))
        y, _ = rms(a, eps=EPS)
        return y, jax.lax.psum(matvec(a, v).sum(), "x")

    sharded = jax.jit(
        jax.shard_map(per_shard, mesh=mesh, in_specs=(P("x"), P()), out_specs=(P("x"), P()))
    )
    v = np.linspace(-1, 1, 16, dtype=np.float32)
    y, total = sharded(x, v)
    facts["shard_map_local_shapes"] = local_shapes
    facts["shard_map_y_error"] = float(np.max(np.abs(np.asarray(y) - reference)))
    facts["shard_map_y_sharding"] = partition_entries(y.sharding)
    facts["shard_map_total_error"] = float(abs(float(total) - float((x @ v).sum())))

    # jit on a row-sharded input: a batch-partitionable target runs on each device's rows.
    x_sharded = jax.device_put(x, NamedSharding(mesh, P("x", None)))
    functions = {
        label: jax_tvm_ffi.ffi_function(
            mod.rms_norm_fwd,
            rms_norm_shapes,
            arg_spec=RMS_SPEC,
            name=f"sharding_worker.rms_norm.{label}",
            batch_partitionable=label == "partitionable",
        )
        for label in ("partitionable", "plain")
    }
    for label, f in functions.items():
        for partitioner in ("shardy", "gspmd"):
            jax.config.update("jax_use_shardy_partitioner", partitioner == "shardy")
            program = jax.jit(lambda a, f=f: f(a, eps=EPS)[0] * 2)
            hlo = program.lower(x_sharded).compile().as_text()
            out = program(x_sharded)
            facts[f"{label}_{partitioner}"] = {
                "custom_call_shapes": custom_call_shapes(hlo, f.target_name),
                "collectives": collectives(hlo),
                "error": float(np.max(np.abs(np.asarray(out) - 2 * reference))),
                "out_spec": partition_entries(out.sharding),
                "out_shard_shapes": sorted({tuple(s.data.shape) for s in out.addressable_shards}),
            }
    jax.config.update("jax_use_shardy_partitioner", True)

    # A batch-partitionable target inside shard_map: already local, nothing left to split.
    inner = jax.jit(
        jax.shard_map(
            lambda a: functions["partitionable"](a, eps=EPS)[0],
            mesh=mesh,
            in_specs=P("x"),
            out_specs=P("x"),
        )
    )
    facts["partitionable_in_shard_map_error"] = float(
        np.max(np.abs(np.asarray(inner(x_sharded)) - reference))
    )
    report(**facts)


if __name__ == "__main__":
    main()
