"""A bridged C++ kernel in a multi-process JAX program (jax.distributed).

Every process runs the same program: it joins the coordinator, sees the global mesh (all
processes' devices), calls the kernel on its own shards and reduces across processes.

Run locally (starts 2 processes on 127.0.0.1 with 2 CPU devices each, waits for both):

    python examples/multi_process.py          (last line: "multi_process: OK")

On a cluster, start one process per host, each with the same coordinator address and its own
process id (the coordinator is process 0's host; pick any free port):

    python examples/multi_process.py --coordinator HOST0:PORT --num-processes N --process-id I

(Under SLURM or other environments that jax.distributed detects, the three flags can be left
out.) Every process must create the same ffi_functions, so the targets exist everywhere.
"""

import argparse
import inspect
import os
import socket
import subprocess
import sys
import time

EPS = 1e-6
ROWS_PER_DEVICE = 2


def worker(coordinator, num_processes, process_id, local_devices):
    # The device count of the host platform must be set before JAX starts.
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={local_devices}"
    ).strip()
    import jax
    import jax.numpy as jnp
    import numpy as np
    import rms_norm
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jax_tvm_ffi

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU cross-process
    # jax 0.6 has no shutdown_timeout_seconds: pass it only where initialize() takes it.
    accepted = inspect.signature(jax.distributed.initialize).parameters
    timeouts = {"shutdown_timeout_seconds": 30} if "shutdown_timeout_seconds" in accepted else {}
    jax.distributed.initialize(
        coordinator_address=coordinator,
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=60,
        **timeouts,
    )
    mesh = jax.make_mesh((jax.device_count(),), ("rows",), axis_types=(jax.sharding.AxisType.Auto,))
    rows = ROWS_PER_DEVICE * jax.device_count()
    x = np.random.default_rng(0).standard_normal((rows, 16)).astype(np.float32)  # same everywhere
    x_global = jax.make_array_from_callback(
        x.shape, NamedSharding(mesh, P("rows", None)), lambda index: x[index]
    )
    norm = jax_tvm_ffi.ffi_function(
        rms_norm.module().rms_norm_fwd,
        rms_norm.shapes,
        arg_spec=rms_norm.ARG_SPEC,
        name="multi_process_example.rms_norm",
    )

    def per_device(block):
        y, _ = norm(block, eps=EPS)
        return jax.lax.psum(jnp.sum(y, axis=0), "rows")  # crosses processes

    column_sums = jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=P("rows"), out_specs=P()))(
        x_global
    )
    got = np.asarray(column_sums.addressable_data(0))
    expected = np.asarray(rms_norm.reference(jnp.asarray(x), EPS)).sum(axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    print(
        f"process {jax.process_index()}/{jax.process_count()}: "
        f"{jax.local_device_count()} local of {jax.device_count()} devices, "
        f"sum of column sums {got.sum():.4f} (expected {expected.sum():.4f})",
        flush=True,
    )
    jax.distributed.shutdown()


def launch_local(num_processes, local_devices, timeout_s=120):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, __file__, "--coordinator", f"127.0.0.1:{port}"]
    command += ["--num-processes", str(num_processes), "--local-devices", str(local_devices)]
    processes = [
        subprocess.Popen([*command, "--process-id", str(i)], stdout=subprocess.PIPE, text=True)
        for i in range(num_processes)
    ]
    ok = True
    deadline = time.monotonic() + timeout_s
    try:
        for process in processes:
            output, _ = process.communicate(timeout=max(1, deadline - time.monotonic()))
            print(output, end="")
            ok = ok and process.returncode == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
                ok = False
    if not ok:
        sys.exit("multi_process: a process failed")
    print("multi_process: OK")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coordinator", help="HOST:PORT of process 0; omit to launch locally")
    parser.add_argument("--num-processes", type=int, default=2)
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--local-devices", type=int, default=2, help="CPU devices per process")
    args = parser.parse_args()
    if args.coordinator is None:
        launch_local(args.num_processes, args.local_devices)
    else:
        worker(args.coordinator, args.num_processes, args.process_id, args.local_devices)


if __name__ == "__main__":
    main()
