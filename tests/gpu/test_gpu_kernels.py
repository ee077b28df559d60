"""CUDA kernels bridged onto the GPU, from the user's side: results, streams, dtypes, errors.

Kernels come from ``inline_kernels.cu`` (``tvm_ffi.cpp.load_inline(cuda_sources=...)``) and from
``cmake_kernels/`` (a CMake/nvcc-built library that also holds two native XLA FFI handlers used to
look at the TVM FFI environment stream on XLA's thread around a bridged call).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import jax_tvm_ffi

# The fake stream the native handler SetSentinelStream installs (gpu_test_kernels.cu).
SENTINEL = 0x5E47100
# Element count of the ordering tests: 256 MiB of float32, several times the H200's L2.
LARGE = 1 << 26


def ffi_call(name: str, results: Any, *args: Any, **attrs: Any) -> Any:
    return jax.ffi.ffi_call(name, results)(*args, **attrs)


def like(x: jax.Array) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(x.shape, x.dtype)


def on_gpu(value: Any) -> jax.Array:
    return jax.device_put(value, jax.devices("gpu")[0])


def test_inline_cuda_kernel_under_jit_matches_jax(inline_kernels: Any, unique_name) -> None:
    name = unique_name("add_one_env")
    jax_tvm_ffi.register_ffi_target(name, inline_kernels.add_one_env, platform="gpu")
    x = on_gpu(jnp.linspace(-3.0, 3.0, 100_003, dtype=jnp.float32))
    y = jax.jit(lambda x: ffi_call(name, like(x), x))(x)
    assert y.devices() == x.devices()
    np.testing.assert_array_equal(np.asarray(y), np.asarray(jax.jit(lambda x: x + 1)(x)))


def test_cmake_built_kernel_under_jit_matches_jax(cmake_kernels: Any, unique_name) -> None:
    name = unique_name("scale")
    jax_tvm_ffi.register_ffi_target(
        name, cmake_kernels.module.scale, ["args", "rets", "attrs.factor"], platform="gpu"
    )
    x = on_gpu(jnp.arange(4096, dtype=jnp.float32).reshape(64, 64))
    y = jax.jit(lambda x: ffi_call(name, like(x), x, factor=np.float32(2.5)))(x)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x) * np.float32(2.5))


@pytest.mark.parametrize("how", ["env_stream", "ctx_stream"])
def test_kernel_is_ordered_between_jax_producer_and_consumer(
    inline_kernels: Any, unique_name, how: str
) -> None:
    """A slow kernel between two XLA ops on 256 MiB: a missing wait shows as wrong elements."""
    name = unique_name(how)
    if how == "env_stream":
        function, spec = inline_kernels.slow_add_one_env, ["args", "rets", "attrs.steps"]
    else:
        function = inline_kernels.slow_add_one_stream
        spec = ["args", "rets", "attrs.steps", "ctx.stream"]
    jax_tvm_ffi.register_ffi_target(name, function, spec, platform="gpu")

    def program(a: jax.Array, with_kernel: bool) -> jax.Array:
        x = a * 2.0 + 3.0  # producer
        if with_kernel:
            y = ffi_call(name, like(x), x, steps=np.int64(256))
        else:
            y = x + 1.0
        return y * 0.5 + x  # consumer

    a = on_gpu(jnp.arange(LARGE, dtype=jnp.int32) % 1024).astype(jnp.float32)
    bridged = jax.jit(lambda a: program(a, True))
    expected = np.asarray(jax.jit(lambda a: program(a, False))(a))
    for _ in range(3):
        got = np.asarray(bridged(a))
        wrong = np.flatnonzero(got != expected)
        assert wrong.size == 0, (
            f"{wrong.size} of {LARGE} elements differ (first at {wrong[0]}: {got[wrong[0]]} vs "
            f"{expected[wrong[0]]}): the kernel was not ordered with the XLA ops around it"
        )


def test_env_stream_in_a_call_is_xlas_stream(inline_kernels: Any, unique_name) -> None:
    name = unique_name("stream_probe")
    jax_tvm_ffi.register_ffi_target(
        name, inline_kernels.stream_probe, ["args", "rets", "ctx.stream"], platform="gpu"
    )
    x = on_gpu(jnp.ones(1000, jnp.float32))
    info_shape = jax.ShapeDtypeStruct((3,), jnp.uint64)
    y, info = jax.jit(lambda x: ffi_call(name, (like(x), info_shape), x))(x)
    env, ctx_stream, device = (int(v) for v in np.asarray(info))
    assert ctx_stream != 0, "ctx.stream was 0 on a GPU target"
    assert env == ctx_stream, f"TVMFFIEnvGetStream gave {env:#x}, ctx.stream {ctx_stream:#x}"
    assert device == x.devices().pop().id
    np.testing.assert_array_equal(np.asarray(y), 2.0)


def register_stream_handlers(cmake_kernels: Any, unique_name) -> tuple[str, str, str]:
    """Registers the native sentinel handlers and the bridged ``scale``; returns their names."""
    set_name, read_name, scale_name = (unique_name(n) for n in ("set", "read", "scale"))
    jax.ffi.register_ffi_target(
        set_name, cmake_kernels.native_handler("JaxTvmFfiGpuTestSetSentinelStream"), platform="CUDA"
    )
    jax.ffi.register_ffi_target(
        read_name, cmake_kernels.native_handler("JaxTvmFfiGpuTestReadEnvStream"), platform="CUDA"
    )
    jax_tvm_ffi.register_ffi_target(
        scale_name, cmake_kernels.module.scale, ["args", "rets", "attrs.factor"], platform="gpu"
    )
    return set_name, read_name, scale_name


INFO = jax.ShapeDtypeStruct((3,), jnp.uint64)


def test_previous_env_stream_is_restored_after_a_call(cmake_kernels: Any, unique_name) -> None:
    set_name, read_name, scale_name = register_stream_handlers(cmake_kernels, unique_name)

    def program(x: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = ffi_call(set_name, like(x), x)  # installs the sentinel on XLA's thread
        y = ffi_call(scale_name, like(x), x, factor=np.float32(3.0))
        return y, ffi_call(read_name, INFO, y)  # reads what the bridged call left

    x = on_gpu(jnp.arange(256, dtype=jnp.float32))
    y, info = jax.jit(program)(x)
    env, same_thread, xla_stream = (int(v) for v in np.asarray(info))
    assert same_thread == 1, "XLA ran the two native handlers of one program on different threads"
    assert env == SENTINEL, f"after the call the env stream was {env:#x}, not {SENTINEL:#x}"
    assert xla_stream not in (0, SENTINEL)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x) * 3)


def test_previous_env_stream_is_restored_after_a_failing_call(
    cmake_kernels: Any, unique_name
) -> None:
    set_name, read_name, scale_name = register_stream_handlers(cmake_kernels, unique_name)

    def failing(x: jax.Array) -> jax.Array:
        x = ffi_call(set_name, like(x), x)
        return ffi_call(scale_name, like(x), x, factor=np.float32(-1.0))

    x = on_gpu(jnp.arange(256, dtype=jnp.float32))
    with pytest.raises(jax.errors.JaxRuntimeError, match="factor must be >= 0"):
        jax.block_until_ready(jax.jit(failing)(x))
    info = np.asarray(jax.jit(lambda x: ffi_call(read_name, INFO, x))(x))
    env, same_thread, _ = (int(v) for v in info)
    if same_thread != 1:
        pytest.skip("XLA ran the failing program and the next one on different threads")
    assert env == SENTINEL, f"after the failing call the env stream was {env:#x}"


def test_error_in_host_code_reaches_python_with_message_and_target(
    inline_kernels: Any, unique_name
) -> None:
    name = unique_name("add_one_env")
    jax_tvm_ffi.register_ffi_target(name, inline_kernels.add_one_env, platform="gpu")
    x = on_gpu(jnp.arange(8, dtype=jnp.int32))
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        jax.block_until_ready(jax.jit(lambda x: ffi_call(name, like(x), x))(x))
    message = str(raised.value)
    assert "add_one_env: x and y must be float32 on the GPU, got int32 and int32" in message
    assert name in message
    # The device is usable afterwards.
    y = jax.jit(lambda x: x + 1)(x)
    np.testing.assert_array_equal(np.asarray(y), np.arange(1, 9))


# dtype, the DLPack (code, bits) the kernel must see
FLOAT_DTYPES = [
    pytest.param(dtype, dlpack, id=np.dtype(dtype).name)
    for dtype, dlpack in (
        (jnp.float16, (2, 16)),
        (jnp.bfloat16, (4, 16)),
        (jnp.float32, (2, 32)),
        (jnp.float64, (2, 64)),
        (ml_dtypes.float8_e4m3fn, (10, 8)),
        (ml_dtypes.float8_e5m2, (12, 8)),
    )
]


@pytest.mark.parametrize("dtype, dlpack", FLOAT_DTYPES)
def test_float_dtypes_on_gpu(inline_kernels: Any, unique_name, dtype: Any, dlpack: Any) -> None:
    negate, describe = unique_name("negate"), unique_name("describe")
    jax_tvm_ffi.register_ffi_target(negate, inline_kernels.negate, platform="gpu")
    jax_tvm_ffi.register_ffi_target(describe, inline_kernels.describe, platform="gpu")
    values = np.array([-2.0, -1.5, -0.5, 0.0, 0.25, 1.0, 3.0] * 37, np.float32).reshape(7, 37)
    x = on_gpu(jnp.asarray(values).astype(dtype))
    assert x.dtype == np.dtype(dtype), f"JAX made {x.dtype} (jax_enable_x64 off?)"
    shape = jax.ShapeDtypeStruct((5,), jnp.int64)
    y, seen = jax.jit(lambda x: (ffi_call(negate, like(x), x), ffi_call(describe, shape, x)))(x)
    assert tuple(int(v) for v in np.asarray(seen)) == (*dlpack, 1, 2, x.size)
    expected = np.asarray(jax.jit(lambda x: -x)(x))
    got = np.asarray(y)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (1,)], ids=["rank0", "0", "3x0", "1"])
def test_rank_zero_and_zero_size_buffers(inline_kernels: Any, unique_name, shape: Any) -> None:
    add, negate, describe = (unique_name(n) for n in ("add_one_env", "negate", "describe"))
    jax_tvm_ffi.register_ffi_target(add, inline_kernels.add_one_env, platform="gpu")
    jax_tvm_ffi.register_ffi_target(negate, inline_kernels.negate, platform="gpu")
    jax_tvm_ffi.register_ffi_target(describe, inline_kernels.describe, platform="gpu")
    x = on_gpu(jnp.full(shape, 3.0, jnp.float32))
    info = jax.ShapeDtypeStruct((5,), jnp.int64)
    y, z, seen = jax.jit(
        lambda x: (
            ffi_call(add, like(x), x),
            ffi_call(negate, like(x), x),
            ffi_call(describe, info, x),
        )
    )(x)
    assert y.shape == shape and z.shape == shape
    np.testing.assert_array_equal(np.asarray(y), np.full(shape, 4.0, np.float32))
    np.testing.assert_array_equal(np.asarray(z), np.full(shape, -3.0, np.float32))
    assert tuple(int(v) for v in np.asarray(seen)) == (2, 32, 1, len(shape), x.size)
