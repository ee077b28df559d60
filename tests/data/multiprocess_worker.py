"""Worker for tests/test_ffi_function_multiprocess.py: one of several JAX processes.

Usage: multiprocess_worker.py COORDINATOR_ADDRESS NUM_PROCESSES PROCESS_ID, with
XLA_FLAGS=--xla_force_host_platform_device_count=2 (two local CPU devices). Every process
builds the same global array, runs two jitted programs over the global mesh that call a
bridged kernel per shard and reduce across processes, and reports the results.
"""

from __future__ import annotations

import inspect
import sys

import jax
import numpy as np
from ffi_function_support import RMS_SPEC, custom_call_shapes, kernels, report, rms_norm_shapes
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import jax_tvm_ffi

EPS = 1e-6


def main(coordinator: str, num_processes: int, process_id: int) -> None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    # jax 0.6 has neither timeout below: pass each only where initialize() takes it.
    timeouts = {"heartbeat_timeout_seconds": 30, "shutdown_timeout_seconds": 30}
    accepted = inspect.signature(jax.distributed.initialize).parameters
    jax.distributed.initialize(
        coordinator_address=coordinator,
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=60,
        **{key: value for key, value in timeouts.items() if key in accepted},
    )
    mod = kernels()
    mesh = jax.make_mesh((jax.device_count(),), ("x",), axis_types=(jax.sharding.AxisType.Auto,))
    rows = 2 * jax.device_count()
    x = np.random.default_rng(0).standard_normal((rows, 16)).astype(np.float32)
    sharding = NamedSharding(mesh, P("x", None))
    x_global = jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    rms = jax_tvm_ffi.ffi_function(
        mod.rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC, name="multiprocess.rms_norm"
    )

    def per_shard(block: jax.Array) -> jax.Array:
        y, _ = rms(block, eps=EPS)
        return jax.lax.psum(y.sum(axis=0), "x")

    column_sums = jax.jit(jax.shard_map(per_shard, mesh=mesh, in_specs=P("x"), out_specs=P()))(
        x_global
    )

    rms_partitioned = jax_tvm_ffi.ffi_function(
        mod.rms_norm_fwd,
        rms_norm_shapes,
        arg_spec=RMS_SPEC,
        name="multiprocess.rms_norm.partitioned",
        batch_partitionable=True,
    )
    program = jax.jit(lambda a: rms_partitioned(a, eps=EPS)[0].sum())
    hlo = program.lower(x_global).compile().as_text()
    total = program(x_global)

    report(
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        local_devices=jax.local_device_count(),
        global_devices=jax.device_count(),
        column_sums=np.asarray(column_sums.addressable_data(0)).tolist(),
        total=float(total.addressable_data(0)),
        custom_call_shapes=custom_call_shapes(hlo, rms_partitioned.target_name),
    )
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
