"""Code written for the published jax-tvm-ffi 0.1.3 runs unchanged on this package.

Every public behaviour of 0.1.3's API, used the way its users use it: ``register_ffi_target``
with each arg_spec order, attribute kinds and ``ctx.stream``; fp4 buffers; ``pass_owned_tensor``
and the kept-tensor error; the workspace mode (``use_last_output_for_alloc_workspace``) and
``get_last_workspace_peak``; ``registered_count``; the returned handler capsule; and the
exception classes 0.1.3 raises where ours differ.
"""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi

KERNELS = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/string.h>

#include <cstdint>

namespace ffi = tvm::ffi;

// y = x * scale + shift, with the attributes before the buffers: the order arg_spec gives.
void affine_attrs_first(double scale, int64_t shift, ffi::TensorView x, ffi::TensorView y) {
  const float* in = static_cast<const float*>(x.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) out[i] = static_cast<float>(in[i] * scale + shift);
}

// Results first, then inputs: y = a - b.
void subtract_rets_first(ffi::TensorView y, ffi::TensorView a, ffi::TensorView b) {
  const float* pa = static_cast<const float*>(a.data_ptr());
  const float* pb = static_cast<const float*>(b.data_ptr());
  float* out = static_cast<float*>(y.data_ptr());
  for (int64_t i = 0; i < y.numel(); ++i) out[i] = pa[i] - pb[i];
}

// Every attribute kind 0.1.3 passes: bool, int, float, string.
void attribute_kinds(ffi::TensorView x, ffi::TensorView y, bool negate, int64_t count,
                     double weight, ffi::String tag) {
  float* out = static_cast<float*>(y.data_ptr());
  out[0] = negate ? -1.0f : 1.0f;
  out[1] = static_cast<float>(count);
  out[2] = static_cast<float>(weight);
  out[3] = static_cast<float>(tag.size());
}

// The stream as an int (0 on CPU), written to y[0].
void stream_value(ffi::TensorView x, ffi::TensorView y, int64_t stream) {
  static_cast<float*>(y.data_ptr())[0] = static_cast<float>(stream);
}

// fp4 (e2m1) buffers arrive as 2-lane bytes with the last dimension halved: copies the bytes and
// reports the view's shape and dtype in `info` (int64[4]: last dim, bits, lanes, ndim).
void fp4_view(ffi::TensorView x, ffi::TensorView y, ffi::TensorView info) {
  int64_t* out = static_cast<int64_t*>(info.data_ptr());
  out[0] = x.size(x.ndim() - 1);
  out[1] = x.dtype().bits;
  out[2] = x.dtype().lanes;
  out[3] = x.ndim();
  const uint8_t* in = static_cast<const uint8_t*>(x.data_ptr());
  uint8_t* copy = static_cast<uint8_t*>(y.data_ptr());
  for (int64_t i = 0; i < x.numel(); ++i) copy[i] = in[i];
}

// Two scratch tensors from the environment allocator: y[0] = a's address modulo 128, y[1] = the
// distance from a to b, y[2] = y[3] = the sum a kernel computes through them.
static ffi::Tensor kept_scratch;
void scratch_user(ffi::TensorView x, ffi::TensorView y, int64_t n, bool keep) {
  ffi::Tensor a = ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, ffi::Shape({n}),
                                            DLDataType{kDLFloat, 32, 1}, x.device());
  ffi::Tensor b = ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, ffi::Shape({3}),
                                            DLDataType{kDLFloat, 32, 1}, x.device());
  float* pa = static_cast<float*>(a.data_ptr());
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) pa[i] = static_cast<float>(i), sum += pa[i];
  auto address = [](const ffi::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()); };
  float* out = static_cast<float*>(y.data_ptr());
  out[0] = static_cast<float>(address(a) % 128);
  out[1] = static_cast<float>(address(b) - address(a));
  out[2] = out[3] = sum;
  if (keep) kept_scratch = a;
}
"""

_FUNCTIONS = [
    "affine_attrs_first",
    "subtract_rets_first",
    "attribute_kinds",
    "stream_value",
    "fp4_view",
    "scratch_user",
]


@pytest.fixture(scope="module")
def mod() -> tvm_ffi.Module:
    return tvm_ffi.cpp.load_inline(name="drop_in_0_1_3", cpp_sources=KERNELS, functions=_FUNCTIONS)


X = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
F32x4 = jax.ShapeDtypeStruct((4,), jnp.float32)


def test_arg_spec_with_attributes_before_the_buffers(mod: tvm_ffi.Module) -> None:
    jax_tvm_ffi.register_ffi_target(
        "drop_in.affine", mod.affine_attrs_first, ["attrs.scale", "attrs.shift", "args", "rets"]
    )
    y = jax.jit(lambda x: jax.ffi.ffi_call("drop_in.affine", F32x4)(x, scale=2.0, shift=1))(X)
    np.testing.assert_array_equal(y, X * 2 + 1)


def test_arg_spec_with_results_before_the_inputs(mod: tvm_ffi.Module) -> None:
    jax_tvm_ffi.register_ffi_target("drop_in.subtract", mod.subtract_rets_first, ["rets", "args"])
    y = jax.ffi.ffi_call("drop_in.subtract", F32x4)(X, np.ones(4, np.float32))
    np.testing.assert_array_equal(y, X - 1)


def test_every_attribute_kind(mod: tvm_ffi.Module) -> None:
    spec = ["args", "rets", "attrs.negate", "attrs.count", "attrs.weight", "attrs.tag"]
    jax_tvm_ffi.register_ffi_target("drop_in.kinds", mod.attribute_kinds, spec)
    y = jax.ffi.ffi_call("drop_in.kinds", F32x4)(
        X, negate=True, count=7, weight=np.float32(0.5), tag="abcde"
    )
    np.testing.assert_array_equal(y, [-1.0, 7.0, 0.5, 5.0])


def test_ctx_stream_is_zero_on_cpu(mod: tvm_ffi.Module) -> None:
    jax_tvm_ffi.register_ffi_target(
        "drop_in.stream", mod.stream_value, ["args", "rets", "ctx.stream"]
    )
    y = jax.ffi.ffi_call("drop_in.stream", F32x4)(X)
    assert float(y[0]) == 0.0


def test_fp4_buffers_have_their_last_dimension_halved(mod: tvm_ffi.Module) -> None:
    jax_tvm_ffi.register_ffi_target("drop_in.fp4", mod.fp4_view)
    values = np.array([[0.5, 1.0, 1.5, 2.0, 3.0, 4.0], [-0.5, -1.0, 0, 6.0, -6.0, 2.0]])
    x = jnp.asarray(values.astype(ml_dtypes.float4_e2m1fn))
    copy, info = jax.ffi.ffi_call(
        "drop_in.fp4",
        (jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct((4,), jnp.int64)),
    )(x)
    # Six fp4 values per row are three bytes of two lanes each.
    np.testing.assert_array_equal(np.asarray(info), [3, 4, 2, 2])
    np.testing.assert_array_equal(np.asarray(copy).astype(np.float32), values)


def test_pass_owned_tensor_lets_python_use_dlpack() -> None:
    def add_one(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        assert isinstance(x, tvm_ffi.Tensor)
        np.from_dlpack(y)[...] = np.from_dlpack(x) + 1

    jax_tvm_ffi.register_ffi_target(
        "drop_in.owned", tvm_ffi.convert(add_one), pass_owned_tensor=True
    )
    y = jax.jit(lambda x: jax.ffi.ffi_call("drop_in.owned", F32x4)(x))(X)
    np.testing.assert_array_equal(y, X + 1)


def test_a_kept_result_fails_with_the_words_of_0_1_3() -> None:
    kept = []

    def keep(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        kept.append(y)

    jax_tvm_ffi.register_ffi_target("drop_in.kept", keep, pass_owned_tensor=True)
    with pytest.raises(Exception, match="Leaked temp owned tensors") as info:
        jax.block_until_ready(jax.ffi.ffi_call("drop_in.kept", F32x4)(X))
    # Ours also names the target and the tensor.
    assert "drop_in.kept" in str(info.value)
    kept.clear()


def _workspace_call(name: str, nbytes: int, n: int = 16, keep: bool = False, **workspace):
    workspace_result = jax.ShapeDtypeStruct(
        workspace.get("shape", (nbytes,)), workspace.get("dtype", jnp.uint8)
    )
    return jax.ffi.ffi_call(name, (F32x4, workspace_result))(X, n=np.int64(n), keep=keep)


@pytest.fixture(scope="module")
def workspace_target(mod: tvm_ffi.Module) -> str:
    name = "drop_in.workspace"
    jax_tvm_ffi.register_ffi_target(
        name,
        mod.scratch_user,
        ["args", "rets", "attrs.n", "attrs.keep"],
        use_last_output_for_alloc_workspace=True,
    )
    return name


def test_workspace_serves_scratch_from_the_last_result(workspace_target: str) -> None:
    y, workspace = jax.jit(lambda x: _workspace_call(workspace_target, 1024))(X)
    y = np.asarray(y)
    assert y[0] == 0, "the first scratch address is 128-byte aligned"
    assert y[1] == 128, "the next tensor starts at the next 128-byte boundary"
    assert y[2] == sum(range(16))
    assert workspace.shape == (1024,) and workspace.dtype == jnp.uint8
    # 128 bytes for the first tensor's slot, then 12 for the second: 140, as 0.1.3 reports.
    assert jax_tvm_ffi.get_last_workspace_peak() == 140


def test_workspace_peak_is_per_thread(workspace_target: str) -> None:
    jax.block_until_ready(_workspace_call(workspace_target, 1024))
    seen = []
    thread = threading.Thread(target=lambda: seen.append(jax_tvm_ffi.get_last_workspace_peak()))
    thread.start()
    thread.join()
    assert seen == [0]


def test_workspace_overflow_fails_the_call_with_the_sizes(workspace_target: str) -> None:
    with pytest.raises(Exception, match="Workspace overflow") as info:
        jax.block_until_ready(_workspace_call(workspace_target, 1024, n=1000))
    message = str(info.value)
    assert "float32[1000] needs 4000 bytes" in message
    assert "of the workspace's 1024 bytes" in message
    assert workspace_target in message


def test_a_kept_workspace_tensor_fails_the_call(workspace_target: str) -> None:
    with pytest.raises(Exception, match="Leaked workspace allocations"):
        jax.block_until_ready(_workspace_call(workspace_target, 1024, keep=True))


@pytest.mark.parametrize(
    ("workspace", "got"),
    [({"dtype": jnp.float32}, "got F32 of rank 1"), ({"shape": (32, 32)}, "got U8 of rank 2")],
)
def test_a_wrong_workspace_is_a_clear_error(workspace_target: str, workspace, got: str) -> None:
    with pytest.raises(Exception, match="the last result must be the workspace") as info:
        jax.block_until_ready(_workspace_call(workspace_target, 1024, **workspace))
    assert got in str(info.value)


def test_ffi_function_sizes_the_workspace_and_hides_it(mod: tvm_ffi.Module) -> None:
    f = jax_tvm_ffi.ffi_function(
        mod.scratch_user,
        lambda x, **attrs: x,
        arg_spec=["args", "rets", "attrs.n", "attrs.keep"],
        workspace_bytes=lambda x, n, keep: 128 + 4 * int(n),
    )
    y = jax.jit(lambda x: f(x, n=np.int64(32), keep=False))(X)
    assert y.shape == (4,), "the workspace is not among the results"
    assert float(y[2]) == sum(range(32))


def test_registered_count_counts_distinct_names_and_platforms(mod: tvm_ffi.Module) -> None:
    before = jax_tvm_ffi.registered_count()
    jax_tvm_ffi.register_ffi_target("drop_in.count", mod.subtract_rets_first, ["rets", "args"])
    jax_tvm_ffi.register_ffi_target("drop_in.count", mod.subtract_rets_first, ["rets", "args"])
    assert jax_tvm_ffi.registered_count() == before + 1


def test_the_returned_capsule_is_the_handler(mod: tvm_ffi.Module) -> None:
    first = jax_tvm_ffi.register_ffi_target(
        "drop_in.capsule", mod.subtract_rets_first, ["rets", "args"]
    )
    again = jax_tvm_ffi.register_ffi_target(
        "drop_in.capsule", mod.subtract_rets_first, ["rets", "args"]
    )
    assert type(first).__name__ == "PyCapsule"
    assert _capsule_pointer(first) == _capsule_pointer(again)
    # Code that registers the capsule with JAX itself, under another name, gets a working target.
    jax.ffi.register_ffi_target("drop_in.capsule_alias", first, platform="cpu")
    y = jax.ffi.ffi_call("drop_in.capsule_alias", F32x4)(X, X)
    np.testing.assert_array_equal(y, np.zeros(4, np.float32))


def _capsule_pointer(capsule: object) -> int:
    import ctypes

    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return get_pointer(capsule, None)


def _function() -> tvm_ffi.Function:
    return tvm_ffi.convert(lambda x, y: None)


@pytest.mark.parametrize(
    ("call", "classes"),
    [
        # 0.1.3 raises RuntimeError for an invalid arg_spec item; ours ValueError.
        (
            lambda: jax_tvm_ffi.register_ffi_target("drop_in.bad", _function(), ["argz"]),
            (RuntimeError, ValueError),
        ),
        # 0.1.3 raises TypeError for a global function name that does not exist; ours ValueError.
        (
            lambda: jax_tvm_ffi.register_ffi_target("drop_in.bad", "drop_in.no_such_global"),
            (TypeError, ValueError),
        ),
        # 0.1.3 raises ValueError for a platform that is not a str; ours TypeError.
        (
            lambda: jax_tvm_ffi.register_ffi_target("drop_in.bad", _function(), platform=3),
            (ValueError, TypeError),
        ),
    ],
)
def test_errors_are_caught_as_either_package_raises_them(call, classes) -> None:
    for cls in classes:
        with pytest.raises(cls, match="drop_in.bad"):
            call()
