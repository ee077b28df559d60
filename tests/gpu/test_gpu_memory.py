"""Device memory and call modes on the GPU: scratch from XLA's allocator, the workspace mode,
Python callbacks on owned GPU tensors (CuPy), CUDA graphs, and the checking mode's trace."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jax_tvm_ffi

INLINE_SOURCE = Path(__file__).resolve().parent / "inline_kernels.cu"

ELEMENTS = 10_000
BLOCKS = (ELEMENTS + 255) // 256  # scratch_center's partial sums: one float32 per block


def ffi_call(name: str, results: Any, *args: Any, **attrs: Any) -> Any:
    return jax.ffi.ffi_call(name, results)(*args, **attrs)


def like(x: jax.Array) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(x.shape, x.dtype)


def test_device_scratch_from_xla_allocator(scratch_example: Any, unique_name) -> None:
    """examples/cuda_scratch.cu on the GPU: per-block partial sums in device scratch memory."""
    name = unique_name("center")
    jax_tvm_ffi.register_ffi_target(name, scratch_example.center, platform="gpu")
    x = jax.random.normal(jax.random.key(0), (ELEMENTS,), jnp.float32)
    y = np.asarray(jax.jit(lambda x: ffi_call(name, like(x), x))(x))
    np.testing.assert_allclose(y, np.asarray(x) - np.asarray(x).mean(), atol=1e-5)
    usage = jax_tvm_ffi.scratch_usage(name, platform="gpu")
    assert usage == jax_tvm_ffi.ScratchUsage(
        last_call_allocations=1,
        last_call_peak_bytes=BLOCKS * 4,
        total_allocations=1,
        peak_bytes=BLOCKS * 4,
        outstanding_allocations=0,
    )


def test_kernel_failing_after_allocating_scratch(inline_kernels: Any, unique_name) -> None:
    """The error reaches Python, the scratch goes back, and the target works again."""
    name = unique_name("scratch_then_fail")
    jax_tvm_ffi.register_ffi_target(name, inline_kernels.scratch_then_fail, platform="gpu")
    x = jnp.arange(ELEMENTS, dtype=jnp.float32)
    call = jax.jit(lambda x: ffi_call(name, like(x), x))
    for calls in (1, 2):
        with pytest.raises(jax.errors.JaxRuntimeError, match="failing on purpose") as raised:
            jax.block_until_ready(call(x))
        assert name in str(raised.value)
        usage = jax_tvm_ffi.scratch_usage(name, platform="gpu")
        assert usage.total_allocations == calls
        assert usage.last_call_peak_bytes == ELEMENTS * 4
        assert usage.outstanding_allocations == 0
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda x: x * 2)(x)), np.asarray(x) * 2)


WORKSPACE_BYTES = 4096


def workspace_target(inline_kernels: Any, unique_name) -> str:
    name = unique_name("scratch_addresses")
    jax_tvm_ffi.register_ffi_target(
        name,
        inline_kernels.scratch_addresses,
        ["args", "rets", "attrs.first_bytes", "attrs.second_bytes"],
        platform="gpu",
        use_last_output_for_alloc_workspace=True,
    )
    return name


def call_with_workspace(name: str, x: jax.Array, first: int, second: int) -> Any:
    results = (
        like(x),
        jax.ShapeDtypeStruct((3,), jnp.uint64),
        jax.ShapeDtypeStruct((WORKSPACE_BYTES,), jnp.uint8),
    )
    call = jax.jit(
        lambda x: ffi_call(
            name, results, x, first_bytes=np.int64(first), second_bytes=np.int64(second)
        )
    )
    return call(x)


def test_workspace_mode_carves_scratch_from_the_last_result(
    inline_kernels: Any, unique_name
) -> None:
    name = workspace_target(inline_kernels, unique_name)
    x = jnp.arange(100, dtype=jnp.float32)
    y, addresses, workspace = call_with_workspace(name, x, 400, 1000)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x) + 1)
    assert workspace.dtype == jnp.uint8 and workspace.shape == (WORKSPACE_BYTES,)
    start = workspace.unsafe_buffer_pointer()
    first, second, first_bytes = (int(v) for v in np.asarray(addresses))
    assert first_bytes == 400
    for address, size in ((first, 400), (second, 1000)):
        assert start <= address and address + size <= start + WORKSPACE_BYTES, (
            f"scratch tensor at {address:#x} (+{size}) is outside the workspace {start:#x} "
            f"(+{WORKSPACE_BYTES})"
        )
        assert address % 128 == 0, f"scratch tensor at {address:#x} is not 128-byte aligned"
    assert second >= first + 400, "the two scratch tensors overlap"
    usage = jax_tvm_ffi.scratch_usage(name, platform="gpu")
    assert usage.last_call_allocations == 2
    assert usage.outstanding_allocations == 0


def test_workspace_overflow_on_gpu_fails_the_call(inline_kernels: Any, unique_name) -> None:
    name = workspace_target(inline_kernels, unique_name)
    x = jnp.arange(100, dtype=jnp.float32)
    with pytest.raises(jax.errors.JaxRuntimeError, match="Workspace overflow") as raised:
        jax.block_until_ready(call_with_workspace(name, x, 400, 2 * WORKSPACE_BYTES))
    assert name in str(raised.value)


def test_trace_line_on_gpu_names_the_stream_in_hex(
    inline_kernels: Any, unique_name, capfd: pytest.CaptureFixture[str]
) -> None:
    name = unique_name("stream_probe")
    jax_tvm_ffi.register_ffi_target(
        name, inline_kernels.stream_probe, ["args", "rets", "ctx.stream"], "gpu", check="trace"
    )
    x = jnp.ones(8, jnp.float32)
    _, info = jax.jit(
        lambda x: ffi_call(name, (like(x), jax.ShapeDtypeStruct((3,), jnp.uint64)), x)
    )(x)
    stream = int(np.asarray(info)[1])
    err = capfd.readouterr().err
    pattern = (
        rf"jax_tvm_ffi trace: target '{re.escape(name)}' args \(f32\[8\]\) "
        rf"rets \(f32\[8\], u64\[3\]\) stream (0x[0-9a-f]+) time [0-9.]+ us ok"
    )
    match = re.search(pattern, err)
    assert match, f"no trace line like {pattern!r} in stderr:\n{err}"
    assert int(match.group(1), 16) == stream, "the trace's stream is not the call's stream"


def test_owned_tensor_callback_reads_and_writes_through_cupy(unique_name) -> None:
    cupy = pytest.importorskip("cupy")

    def twice_plus_one(x: Any, y: Any, stream: int) -> None:
        # CuPy work must go on XLA's stream, passed as ctx.stream.
        with cupy.cuda.ExternalStream(stream):
            cupy.from_dlpack(y)[...] = cupy.from_dlpack(x) * 2 + 1

    name = unique_name("cupy")
    jax_tvm_ffi.register_ffi_target(
        name, twice_plus_one, ["args", "rets", "ctx.stream"], "gpu", pass_owned_tensor=True
    )
    x = jnp.arange(1 << 20, dtype=jnp.float32)
    y = jax.jit(lambda x: ffi_call(name, like(x), x) - 1)(x)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x) * 2)


def test_owned_gpu_tensor_kept_past_the_call_fails_it(unique_name) -> None:
    cupy = pytest.importorskip("cupy")
    kept: list[Any] = []

    def keep(x: Any, y: Any, stream: int) -> None:
        with cupy.cuda.ExternalStream(stream):
            cupy.from_dlpack(y)[...] = cupy.from_dlpack(x)
        kept.append(x)

    name = unique_name("keep")
    jax_tvm_ffi.register_ffi_target(
        name, keep, ["args", "rets", "ctx.stream"], "gpu", pass_owned_tensor=True
    )
    x = jnp.arange(16, dtype=jnp.float32)
    with pytest.raises(
        jax.errors.JaxRuntimeError, match="A GPU argument must not be kept"
    ) as raised:
        jax.block_until_ready(jax.jit(lambda x: ffi_call(name, like(x), x))(x))
    assert "Leaked temp owned tensors" in str(raised.value)
    assert len(kept) == 1


# XLA's command buffers (CUDA graphs) for custom calls, down to one-op graphs; WHILE is left out
# so that the loop body, not the whole loop, is the graph that is replayed.
GRAPH_XLA_FLAGS = (
    "--xla_gpu_enable_command_buffer=FUSION,CUSTOM_CALL --xla_gpu_graph_min_graph_size=1"
)
GRAPH_ITERATIONS = 50

GRAPH_PROGRAM = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np, tvm_ffi
    import jax_tvm_ffi
    allow = sys.argv[2] == "True"
    mod = tvm_ffi.cpp.load_inline(name="jax_tvm_ffi_gpu_inline_kernels",
                                  cuda_sources=open(sys.argv[1]).read())
    jax_tvm_ffi.register_ffi_target("gpu_graph.probe", mod.graph_probe, platform="gpu",
                                    allow_cuda_graph=allow)
    flag = jax.ShapeDtypeStruct((), jnp.int32)

    def step(_, carry):
        y, captured = carry
        shapes = (jax.ShapeDtypeStruct(y.shape, y.dtype), flag)
        y, now = jax.ffi.ffi_call("gpu_graph.probe", shapes)(y)
        return y, jnp.maximum(captured, now)

    loop = jax.jit(lambda x: jax.lax.fori_loop(0, int(sys.argv[3]), step, (x, jnp.int32(0))))
    x = jnp.arange(1024, dtype=jnp.float32)
    mod.take_graph_probe_host_calls()
    runs = []
    for _ in range(3):  # replays are what the later runs can show, once the graph is recorded
        y, captured = loop(x)
        y = np.asarray(y)
        runs.append({"correct": bool((y == np.arange(1024) + int(sys.argv[3])).all()),
                     "captured": int(captured),
                     "host_calls": int(mod.take_graph_probe_host_calls())})
    print(json.dumps(runs))
    """
)


@pytest.mark.parametrize("allow_cuda_graph", [True, False])
def test_cuda_graph_capture_and_replay_in_a_loop(
    inline_kernels: Any, allow_cuda_graph: bool
) -> None:
    """With the flag the call is captured once and replayed; without it, it runs every time."""
    del inline_kernels  # built (and cached) for the subprocess, which loads the same module
    env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {GRAPH_XLA_FLAGS}")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            GRAPH_PROGRAM,
            str(INLINE_SOURCE),
            str(allow_cuda_graph),
            str(GRAPH_ITERATIONS),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, f"the graph program failed:\n{result.stderr[-6000:]}"
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(run["correct"] for run in runs), f"wrong loop result: {runs}"
    if allow_cuda_graph:
        assert all(run["captured"] == 1 for run in runs), f"not run under stream capture: {runs}"
        # Fewer host calls than iterations: the recorded graph was replayed.
        host_calls = sum(run["host_calls"] for run in runs)
        assert host_calls < len(runs) * GRAPH_ITERATIONS, f"the graph was never replayed: {runs}"
    else:
        assert all(run["captured"] == 0 for run in runs), f"captured without the flag: {runs}"
        assert all(run["host_calls"] == GRAPH_ITERATIONS for run in runs), runs
