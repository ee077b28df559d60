"""The checking mode (``check=`` / ``JAX_TVM_FFI_CHECK``): kernel bugs fail the call by name.

A kernel that writes past or before a buffer, writes its input, or produces NaN fails the call
with a ``JaxRuntimeError`` naming the target, the buffer and the offset, and the process goes on.
Cases whose kernel corrupts memory run in a subprocess, so a checking mode that failed to catch
the write could not take the test session down with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi
from subprocess_util import assert_exited, run_python

# Kernels with the bugs the checking mode is for. None checks its arguments.
BUGGY_SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/function.h>

#include <cmath>
#include <cstdint>

using tvm::ffi::TensorView;

// y = x for all of x: past the end of a y shorter than x.
void copy_all(TensorView x, TensorView y) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i];
}

// y = x + 1, and a stray write of one float just before y.
void write_before(TensorView x, TensorView y) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < y.numel(); ++i) out[i] = in[i] + 1.0f;
  out[-1] = 0.0f;
}

// x += 1 in place, then y = x: writes its input.
void add_one_in_place(TensorView x, TensorView y) {
  float* in = static_cast<float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) in[i] += 1.0f;
  if (out != in) {
    for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i];
  }
}

// y = log(x), float32: NaN for a negative x.
void log_f32(TensorView x, TensorView y) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = std::log(in[i]);
}

// y = x + 1 taking every buffer for float32, whatever its dtype.
void add_one_any(TensorView x, TensorView y) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] + 1.0f;
}
"""
BUGGY_FUNCTIONS = ["copy_all", "write_before", "add_one_in_place", "log_f32", "add_one_any"]

# The same module in a subprocess (load_inline finds the session's build in its cache).
BUGGY_PREAMBLE = f"""
import os
buggy = tvm_ffi.cpp.load_inline(
    name="jax_tvm_ffi_test_buggy_kernels", cpp_sources={BUGGY_SOURCE!r},
    functions={BUGGY_FUNCTIONS!r},
)
def call(name, x, out_shape):
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(out_shape, x.dtype))(x)
"""

TRACE_LINE = re.compile(
    r"^jax_tvm_ffi trace: target '(?P<target>[^']+)' args \((?P<args>[^)]*)\) "
    r"rets \((?P<rets>[^)]*)\) stream (?P<stream>\S+) time (?P<time>[0-9.]+) us "
    r"(?P<status>ok|failed)$",
    re.M,
)


@pytest.fixture(scope="module")
def buggy() -> tvm_ffi.Module:
    return tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_test_buggy_kernels",
        cpp_sources=BUGGY_SOURCE,
        functions=BUGGY_FUNCTIONS,
    )


@pytest.fixture(autouse=True)
def no_check_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the variable unset, whatever the environment of the run."""
    monkeypatch.delenv("JAX_TVM_FFI_CHECK", raising=False)


def call_error(run: Callable[[], Any]) -> str:
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        jax.block_until_ready(run())
    return str(raised.value)


def ffi(name: str, x: jax.Array, out_shape: tuple[int, ...] | None = None) -> jax.Array:
    shape = x.shape if out_shape is None else out_shape
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(shape, x.dtype))(x)


def test_write_past_a_too_small_output_fails_naming_buffer_and_offset(buggy: Any) -> None:
    result = run_python(
        BUGGY_PREAMBLE
        + """
jax_tvm_ffi.register_ffi_target("checked.copy_all", buggy.copy_all, check=True)
x = jnp.arange(8, dtype=jnp.float32)
for attempt in range(3):
    try:
        jax.block_until_ready(call("checked.copy_all", x, (4,)))
    except jax.errors.JaxRuntimeError as error:
        print("ERROR", error)
    else:
        print("NO ERROR")
# The process and its heap are fine: a correct call after the failing ones works.
print("OK", np.asarray(call("checked.copy_all", x, (8,))).tolist())
"""
    )
    assert_exited(result)
    assert "NO ERROR" not in result.stdout, result.stdout
    assert result.stdout.count("ERROR") == 3, result.stdout
    assert (
        "jax_tvm_ffi target 'checked.copy_all': checking mode: the function wrote past the end "
        "of output 0 (f32[4], 16 bytes): the corrupted byte nearest to it is at offset 0 from "
        "its end (16 of the " in result.stdout
    ), result.stdout
    assert "OK [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]" in result.stdout


def test_write_before_an_output_fails_inside_jit(buggy: Any) -> None:
    result = run_python(
        BUGGY_PREAMBLE
        + """
jax_tvm_ffi.register_ffi_target("checked.write_before", buggy.write_before, check="guards")
f = jax.jit(lambda x: call("checked.write_before", x * 2, x.shape))
try:
    jax.block_until_ready(f(jnp.ones((2, 3), jnp.float32)))
except jax.errors.JaxRuntimeError as error:
    print("ERROR", error)
"""
    )
    assert_exited(result)
    assert (
        "the function wrote before the start of output 0 (f32[2,3], 24 bytes): the corrupted "
        "byte nearest to it is 1 byte before its start (4 of the 256 guard bytes before it "
        "changed)" in result.stdout
    ), result.stdout + result.stderr


def test_a_modified_input_fails_unless_aliased(buggy: Any, register: Callable[..., str]) -> None:
    x = jnp.array([1.0, 2.0, 3.0], jnp.float32)
    name = register(buggy.add_one_in_place, check="inputs")
    message = call_error(lambda: ffi(name, x))
    assert f"jax_tvm_ffi target '{name}': checking mode: the function modified input 0" in message
    # 1.0f is 00 00 80 3f and 2.0f is 00 00 00 40 (little-endian): byte 2 changes first.
    assert "(f32[3], 12 bytes), which is not aliased to an output: byte 2 (element [0])" in message
    np.testing.assert_array_equal(np.asarray(x), [1.0, 2.0, 3.0])
    # The same kernel with its input aliased to its output (input_output_aliases) is accepted.
    aliased = jax.jit(
        lambda v: jax.ffi.ffi_call(
            name, jax.ShapeDtypeStruct(v.shape, v.dtype), input_output_aliases={0: 0}
        )(v * 1)
    )
    np.testing.assert_array_equal(np.asarray(aliased(x)), [2.0, 3.0, 4.0])


def test_nan_outputs_fail_only_with_the_nan_check(buggy: Any, register: Callable[..., str]) -> None:
    x = jnp.array([[1.0, 2.0], [-1.0, 4.0]], jnp.float32)
    name = register(buggy.log_f32, check="guards,nan")
    message = call_error(lambda: ffi(name, x))
    assert "checking mode: output 0 (f32[2,2]) holds NaN at index [1, 0] (element 2" in message
    np.testing.assert_allclose(np.asarray(ffi(name, jnp.abs(x) + 1)), np.log(np.abs(x) + 1))
    unchecked = register(buggy.log_f32, check=True)  # guards and inputs: NaN is allowed
    assert np.isnan(np.asarray(ffi(unchecked, x))[1, 0])


def test_an_int32_input_to_a_float_kernel_still_runs(
    buggy: Any, register: Callable[..., str]
) -> None:
    # The checking mode is about memory: a kernel that misreads its dtype but stays in bounds
    # gives the same (wrong) result with every check on.
    x = jnp.array([1, 2, 3, 4], jnp.int32)
    checked = register(buggy.add_one_any, check="all")
    plain = register(buggy.add_one_any, check=False)
    np.testing.assert_array_equal(np.asarray(ffi(checked, x)), np.asarray(ffi(plain, x)))


def test_the_environment_variable_turns_checks_on_at_registration(
    buggy: Any, register: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    x = jnp.array([1.0, 2.0], jnp.float32)
    monkeypatch.setenv("JAX_TVM_FFI_CHECK", "inputs")
    from_env = register(buggy.add_one_in_place)
    explicit_off = register(buggy.add_one_in_place, check=False)
    monkeypatch.delenv("JAX_TVM_FFI_CHECK")
    assert "the function modified input 0" in call_error(lambda: ffi(from_env, x))
    jax.block_until_ready(ffi(explicit_off, x * 1))


def test_the_environment_variable_in_a_fresh_process(buggy: Any) -> None:
    result = run_python(
        BUGGY_PREAMBLE
        + """
os.environ["JAX_TVM_FFI_CHECK"] = "1"
jax_tvm_ffi.register_ffi_target("env.copy_all", buggy.copy_all)
try:
    jax.block_until_ready(call("env.copy_all", jnp.ones(16, jnp.float32), (2,)))
except jax.errors.JaxRuntimeError as error:
    print("ERROR", error)
"""
    )
    assert_exited(result)
    assert "past the end of output 0 (f32[2], 8 bytes)" in result.stdout, result.stdout


def test_trace_lines_name_target_buffers_stream_and_time(buggy: Any) -> None:
    result = run_python(
        BUGGY_PREAMBLE
        + """
jax_tvm_ffi.register_ffi_target("traced.add_one", buggy.add_one_any, check="trace")
f = jax.jit(lambda x: call("traced.add_one", x, x.shape))
for _ in range(2):
    jax.block_until_ready(f(jnp.ones((2, 3), jnp.float32)))
"""
    )
    assert_exited(result)
    lines = [m.groupdict() for m in TRACE_LINE.finditer(result.stderr)]
    assert len(lines) == 2, result.stderr
    for line in lines:
        assert line["target"] == "traced.add_one"
        assert line["args"] == "f32[2,3]"
        assert line["rets"] == "f32[2,3]"
        assert line["stream"] == "0"
        assert line["status"] == "ok"
        assert float(line["time"]) >= 0


def test_checks_are_off_by_default(kernels: Any, register: Callable[..., str]) -> None:
    # Unchecked, the kernel sees XLA's own buffer; checked, a shadow copy of it.
    x = jnp.array([1.0, 2.0, 3.0], jnp.float32)
    out = jax.ShapeDtypeStruct((8 + 2 * x.ndim,), jnp.int64)
    address = x.unsafe_buffer_pointer()
    default = register(kernels.describe)
    checked = register(kernels.describe, check="guards")
    assert int(jax.ffi.ffi_call(default, out)(x)[6]) == address
    assert int(jax.ffi.ffi_call(checked, out)(x)[6]) != address


def test_no_trace_by_default(buggy: Any) -> None:
    result = run_python(
        BUGGY_PREAMBLE
        + """
jax_tvm_ffi.register_ffi_target("quiet.add_one", buggy.add_one_any)
jax.block_until_ready(call("quiet.add_one", jnp.ones(3, jnp.float32), (3,)))
print("DONE")
"""
    )
    assert_exited(result)
    assert "DONE" in result.stdout
    assert "jax_tvm_ffi trace" not in result.stderr


def test_ffi_function_takes_check(buggy: Any) -> None:
    result = run_python(
        BUGGY_PREAMBLE
        + """
kernel = jax_tvm_ffi.ffi_function(
    buggy.copy_all, lambda x: jax.ShapeDtypeStruct((1,), x.dtype), check="guards"
)
try:
    jax.block_until_ready(kernel(jnp.ones(4, jnp.float32)))
except jax.errors.JaxRuntimeError as error:
    print("ERROR", error)
"""
    )
    assert_exited(result)
    assert "past the end of output 0 (f32[1], 4 bytes)" in result.stdout, result.stdout


def test_python_callbacks_run_checked(register: Callable[..., str]) -> None:
    def add_one(x: Any, y: Any) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) + 1

    name = register(add_one, check="all")
    x = jnp.array([1.0, 2.0, 3.0], jnp.float32)
    np.testing.assert_array_equal(np.asarray(ffi(name, x)), [2.0, 3.0, 4.0])
