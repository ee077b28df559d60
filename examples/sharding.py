"""A bridged C++ kernel on 4 devices in one process: shard_map, and jit on sharded inputs with a
batch-partitionable target (each device runs the kernel on its own rows; nothing is gathered).

Uses 4 CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=4, set below before JAX is
imported); on a machine with 4 GPUs the same code runs there with a GPU kernel.

Run: python examples/sharding.py   (last line: "sharding: OK")
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import rms_norm  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import jax_tvm_ffi  # noqa: E402

EPS = 1e-6


def main():
    mesh = jax.make_mesh((4,), ("rows",), axis_types=(jax.sharding.AxisType.Auto,))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((8, 16)), jnp.float32)
    expected = rms_norm.reference(x, EPS)
    forward = rms_norm.module().rms_norm_fwd

    # shard_map: the function sees one device's block, and calls the kernel on it.
    norm = jax_tvm_ffi.ffi_function(forward, rms_norm.shapes, arg_spec=rms_norm.ARG_SPEC)

    def per_device(block):
        y, _ = norm(block, eps=EPS)
        return y, jax.lax.psum(jnp.sum(y * y), "rows")  # and a cross-device reduction

    y, total = jax.jit(
        jax.shard_map(per_device, mesh=mesh, in_specs=P("rows"), out_specs=(P("rows"), P()))
    )(x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(total, jnp.sum(expected * expected), rtol=1e-5)
    print(f"shard_map: {len(y.addressable_shards)} shards of {y.addressable_shards[0].data.shape}")

    # jit on a sharded input: a batch-partitionable target is split along its leading dim.
    norm_partitioned = jax_tvm_ffi.ffi_function(
        forward, rms_norm.shapes, arg_spec=rms_norm.ARG_SPEC, batch_partitionable=True
    )
    x_sharded = jax.device_put(x, NamedSharding(mesh, P("rows", None)))
    program = jax.jit(lambda x: norm_partitioned(x, eps=EPS)[0] * 2)
    hlo = program.lower(x_sharded).compile().as_text()
    call = next(line for line in hlo.splitlines() if norm_partitioned.target_name in line)
    local_shape = call.split("=", 1)[1].split("custom-call(")[0].strip()
    gathered = "all-gather" in hlo
    print(f"batch-partitionable custom call result: {local_shape}; all-gather: {gathered}")
    assert local_shape.startswith("(f32[2,16]"), "the kernel did not run on the local rows"
    assert not gathered, "the input was gathered"
    out = program(x_sharded)
    np.testing.assert_allclose(out, 2 * expected, rtol=1e-5, atol=1e-6)
    print(f"output sharding: {out.sharding.spec}")
    print("sharding: OK")


if __name__ == "__main__":
    main()
