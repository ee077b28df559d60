"""Scratch memory: kernels allocate temporaries with ``Tensor::FromEnvAlloc`` during a call and
the bridge serves them from a per-call arena on CPU, gives them back when the call ends (also on
failure), and reports each target's usage."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi
from subprocess_util import assert_exited, run_python

import jax_tvm_ffi

SOURCE = Path(__file__).parent / "data" / "scratch_kernels.cc"
FUNCTIONS = [
    "square_prefix_sum",
    "allocate_then_fail",
    "copy_through_scratch",
    "keep_scratch",
    "scratch_on_cuda",
    "huge_scratch",
    "sub_byte_scratch",
    "call_in_allocator_scope",
    "allocate_outside_calls",
]

# Loads the scratch kernels in a subprocess (from the build cache the module fixture filled).
SUBPROCESS_KERNELS = f"""
scratch = tvm_ffi.cpp.load_inline(
    name="jax_tvm_ffi_test_scratch_kernels",
    cpp_sources=Path({str(SOURCE)!r}).read_text(),
    functions={FUNCTIONS!r},
)
"""


@pytest.fixture(scope="module")
def scratch_kernels() -> tvm_ffi.Module:
    return tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_test_scratch_kernels",
        cpp_sources=SOURCE.read_text(),
        functions=FUNCTIONS,
    )


@pytest.fixture
def target(
    scratch_kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> Callable[..., str]:
    """Registers a scratch kernel under a fresh name and returns the name."""

    def make(function: str, arg_spec: list[str] | None = None) -> str:
        name = unique_name(function)
        jax_tvm_ffi.register_ffi_target(name, getattr(scratch_kernels, function), arg_spec)
        return name

    return make


def call(name: str, x: np.ndarray, **attrs: object) -> np.ndarray:
    result = jax.jit(
        lambda v: jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(v.shape, v.dtype))(v, **attrs)
    )(x)
    return np.asarray(jax.block_until_ready(result))


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def test_kernel_with_two_temporaries(target: Callable[..., str]) -> None:
    name = target("square_prefix_sum")
    x = np.arange(6, dtype=np.float32) - 2
    expected = np.cumsum(x * x) + np.arange(6)
    np.testing.assert_allclose(call(name, x), expected)
    usage = jax_tvm_ffi.scratch_usage(name)
    assert usage == jax_tvm_ffi.ScratchUsage(
        last_call_allocations=2,
        last_call_peak_bytes=6 * 4 + 6 * 8,
        total_allocations=2,
        peak_bytes=72,
        outstanding_allocations=0,
    )


def test_usage_covers_every_call_and_the_peak(target: Callable[..., str]) -> None:
    name = target("square_prefix_sum")
    call(name, np.ones(100, np.float32))
    call(name, np.ones(10, np.float32))
    usage = jax_tvm_ffi.scratch_usage(name)
    assert usage.last_call_allocations == 2
    assert usage.last_call_peak_bytes == 10 * 12
    assert usage.total_allocations == 4
    assert usage.peak_bytes == 100 * 12
    assert usage.outstanding_allocations == 0


def test_failing_kernel_leaks_nothing(target: Callable[..., str]) -> None:
    name = target("allocate_then_fail", ["args", "rets", "attrs.megabytes"])
    x = np.ones(4, np.float32)
    with pytest.raises(Exception, match="failed after allocating 4 MiB of scratch") as raised:
        call(name, x, megabytes=np.int64(4))
    assert f"jax_tvm_ffi target '{name}'" in str(raised.value)
    before = resident_mb()
    for _ in range(300):  # 1.2 GB if any call leaked its scratch.
        with pytest.raises(Exception, match="failed after allocating"):
            call(name, x, megabytes=np.int64(4))
    growth = resident_mb() - before
    usage = jax_tvm_ffi.scratch_usage(name)
    assert usage.outstanding_allocations == 0
    assert usage.total_allocations == 301
    assert usage.last_call_peak_bytes == 4 << 20
    assert growth < 64, f"resident memory grew {growth:.1f} MB over 300 failing calls"


def test_many_calls_keep_memory_flat(target: Callable[..., str]) -> None:
    name = target("copy_through_scratch", ["args", "rets", "attrs.megabytes"])
    x = np.arange(1000, dtype=np.float32)
    fn = jax.jit(
        lambda v: jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(v.shape, v.dtype))(
            v, megabytes=np.int64(8)
        )
    )
    np.testing.assert_array_equal(np.asarray(fn(x)), x)
    before = resident_mb()
    for _ in range(500):  # 4 GB if the arena were not reused.
        y = fn(x)
    np.testing.assert_array_equal(np.asarray(y), x)
    growth = resident_mb() - before
    usage = jax_tvm_ffi.scratch_usage(name)
    assert usage.total_allocations == 501
    assert usage.outstanding_allocations == 0
    assert growth < 64, f"resident memory grew {growth:.1f} MB over 500 calls"


def test_scratch_in_a_loop_inside_jit(target: Callable[..., str]) -> None:
    name = target("square_prefix_sum")

    @jax.jit
    def run(x):
        def body(_, v):
            return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(v.shape, v.dtype))(v) / 100

        return jax.lax.fori_loop(0, 50, body, x)

    x = jnp.linspace(0, 1, 8, dtype=jnp.float32)
    expected = np.asarray(x)
    for _ in range(50):
        expected = (np.cumsum(expected * expected) + np.arange(8)) / 100
    np.testing.assert_allclose(np.asarray(run(x)), expected, rtol=1e-5)
    assert jax_tvm_ffi.scratch_usage(name).total_allocations == 100


def test_kept_scratch_tensor_fails_the_call(target: Callable[..., str]) -> None:
    name = target("keep_scratch", ["args", "rets", "attrs.keep"])
    x = np.ones(4, np.float32)
    with pytest.raises(Exception, match=r"kept 1 scratch tensor\(s\)") as raised:
        call(name, x, keep=True)
    assert f"jax_tvm_ffi target '{name}'" in str(raised.value)
    assert jax_tvm_ffi.scratch_usage(name).outstanding_allocations == 1
    call(name, x, keep=False)  # The kernel lets go of it.
    assert jax_tvm_ffi.scratch_usage(name).outstanding_allocations == 0


def test_scratch_on_another_device_is_refused(target: Callable[..., str]) -> None:
    name = target("scratch_on_cuda")
    with pytest.raises(Exception, match="no scratch memory on cuda:0 during a call on cpu:0"):
        call(name, np.ones(4, np.float32))


def test_usage_of_an_unknown_target_is_a_value_error(unique_name: Callable[[str], str]) -> None:
    name = unique_name("never_registered")
    with pytest.raises(ValueError, match=f"scratch_usage\\('{name}'\\): .*no target '{name}'"):
        jax_tvm_ffi.scratch_usage(name)
    with pytest.raises(ValueError, match="unknown platform 'tpu'"):
        jax_tvm_ffi.scratch_usage(name, platform="tpu")
    with pytest.raises(TypeError, match="name must be a str"):
        jax_tvm_ffi.scratch_usage(42)  # type: ignore[arg-type]


def test_target_without_scratch_reports_zeros(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.add_one_f32)
    call(name, np.ones(3, np.float32))
    assert jax_tvm_ffi.scratch_usage(name) == jax_tvm_ffi.ScratchUsage(0, 0, 0, 0, 0)


def test_concurrent_calls_from_many_threads(target: Callable[..., str]) -> None:
    name = target("square_prefix_sum")
    fn = jax.jit(lambda v: jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(v.shape, v.dtype))(v))
    inputs = [np.linspace(-1, 1, 64 + 8 * i, dtype=np.float32) for i in range(8)]
    expected = [np.cumsum(x * x) + np.arange(x.size) for x in inputs]

    def work(i: int) -> bool:
        return all(
            np.allclose(np.asarray(fn(inputs[i])), expected[i], rtol=1e-5) for _ in range(200)
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(8)))
    usage = jax_tvm_ffi.scratch_usage(name)
    assert usage.total_allocations == 2 * 8 * 200
    assert usage.outstanding_allocations == 0


def test_request_whose_size_once_wrapped_fails_cleanly(scratch_kernels: tvm_ffi.Module) -> None:
    # 2^61 + 64 bytes: times 8 bits it wraps around 2^64, and 64 bytes were once served; the
    # kernel then wrote 16 MiB into them. In a subprocess, since that corrupted the heap.
    result = run_python(
        SUBPROCESS_KERNELS
        + """
jax_tvm_ffi.register_ffi_target("huge", scratch.huge_scratch)
try:
    jax.block_until_ready(ffi("huge"))
except Exception as error:
    print("ERROR:", error)
print("USAGE:", tuple(jax_tvm_ffi.scratch_usage("huge")))
"""
    )
    assert_exited(result)
    assert (
        "invalid scratch tensor: uint8[2305843009213694016] is too large: "
        "2305843009213694016 elements, 2305843009213694016 bytes; scratch tensors are at most "
        "2^48 bytes" in result.stdout
    ), result.stdout + result.stderr
    assert "jax_tvm_ffi target 'huge'" in result.stdout
    assert "USAGE: (0, 0, 0, 0, 0)" in result.stdout


def test_one_and_two_bit_tensors_are_served(target: Callable[..., str]) -> None:
    name = target("sub_byte_scratch")
    np.testing.assert_array_equal(call(name, np.zeros(3, np.float32)), [16, 16, 16])
    usage = jax_tvm_ffi.scratch_usage(name)
    assert usage.last_call_allocations == 3
    assert usage.last_call_peak_bytes == 4  # 2, 4 and 4 bytes, one at a time.


def test_first_call_inside_an_allocator_scope_leaves_scratch_working(
    scratch_kernels: tvm_ffi.Module,
) -> None:
    # The thread's first bridged call runs inside a framework's "set allocator, call, restore"
    # scope. A fresh process, so that the call really is the first on its thread (XLA:CPU runs
    # it on the calling thread).
    result = run_python(
        SUBPROCESS_KERNELS
        + """
jax_tvm_ffi.register_ffi_target("sq", scratch.square_prefix_sum)
x = np.arange(6, dtype=np.float32)
fn = jax.jit(lambda v: jax.ffi.ffi_call("sq", jax.ShapeDtypeStruct(v.shape, v.dtype))(v))
inside = []
served = scratch.call_in_allocator_scope(lambda: inside.append(np.asarray(fn(x))))
print("SCOPE SERVED:", served)
print("INSIDE:", inside[0].tolist())
for _ in range(3):
    print("AFTER:", np.asarray(fn(x)).tolist())
print("USAGE:", tuple(jax_tvm_ffi.scratch_usage("sq")))
try:
    scratch.allocate_outside_calls()
except RuntimeError as error:
    print("OUTSIDE:", error)
"""
    )
    assert_exited(result)
    expected = (np.cumsum(np.arange(6.0) ** 2) + np.arange(6.0)).tolist()
    out = result.stdout
    # Only the request the scope made itself: the call's two came from the bridge.
    assert "SCOPE SERVED: 1" in out, out + result.stderr
    assert f"INSIDE: {expected}" in out
    assert out.count(f"AFTER: {expected}") == 3, out + result.stderr
    assert "USAGE: (2, 72, 8, 72, 0)" in out
    # Outside calls the thread has no allocator, as without the bridge.
    assert "OUTSIDE: no TVM FFI tensor allocator is installed on this thread" in out
