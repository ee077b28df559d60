"""Non-default operand layouts through ``ffi_function(..., input_layouts=, output_layouts=)``.

XLA lays the operands out as asked and the kernel receives views whose strides describe that
memory. The kernels below index every element through ``x.stride(i)``: a view with row-major
strides over column-major memory would put the index-dependent values in the wrong places, so
each result is compared with pure JAX, and the strides themselves are reported back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.experimental.layout as jax_layout
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi

# The layout class with major_to_minor: Layout since jax 0.7, DeviceLocalLayout before (where
# Layout is what later became Format). Its second parameter is the tiling either way.
Layout = getattr(jax_layout, "DeviceLocalLayout", jax_layout.Layout)

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

#include <cstdint>

namespace {

// Calls visit(x offset, y offset, code) for every logical index of x (y of the same shape),
// offsets through each view's strides; code = sum of index[k] * 10^(ndim-1-k).
template <typename F>
void ForEach(const tvm::ffi::TensorView& x, const tvm::ffi::TensorView& y, F visit) {
  TVM_FFI_ICHECK(x.ndim() == y.ndim());
  int64_t n = 1;
  for (int k = 0; k < x.ndim(); ++k) n *= x.size(k);
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t rest = flat, xo = 0, yo = 0, code = 0, weight = 1;
    for (int k = x.ndim() - 1; k >= 0; --k) {
      const int64_t i = rest % x.size(k);
      rest /= x.size(k);
      xo += i * x.stride(k);
      yo += i * y.stride(k);
      code += i * weight;
      weight *= 10;
    }
    visit(xo, yo, code);
  }
}

}  // namespace

// y = x + code(index), both read and written through their strides.
void add_index(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  const float* xp = static_cast<const float*>(x.data_ptr());
  float* yp = static_cast<float*>(y.data_ptr());
  ForEach(x, y, [&](int64_t xo, int64_t yo, int64_t code) {
    yp[yo] = xp[xo] + static_cast<float>(code);
  });
}

// y = 2 x through the strides; s = y's strides then x's (row-major int32 output).
void double_and_strides(tvm::ffi::TensorView x, tvm::ffi::TensorView y, tvm::ffi::TensorView s) {
  const float* xp = static_cast<const float*>(x.data_ptr());
  float* yp = static_cast<float*>(y.data_ptr());
  ForEach(x, y, [&](int64_t xo, int64_t yo, int64_t) { yp[yo] = 2 * xp[xo]; });
  int32_t* sp = static_cast<int32_t*>(s.data_ptr());
  TVM_FFI_ICHECK(s.size(0) == 2 * y.ndim());
  for (int k = 0; k < y.ndim(); ++k) sp[k] = static_cast<int32_t>(y.stride(k));
  for (int k = 0; k < x.ndim(); ++k) sp[y.ndim() + k] = static_cast<int32_t>(x.stride(k));
}

// y = 2 x through the strides.
void double_it(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
  const float* xp = static_cast<const float*>(x.data_ptr());
  float* yp = static_cast<float*>(y.data_ptr());
  ForEach(x, y, [&](int64_t xo, int64_t yo, int64_t) { yp[yo] = 2 * xp[xo]; });
}
"""
FUNCTIONS = ["add_index", "double_and_strides", "double_it"]


@pytest.fixture(scope="module")
def mod() -> tvm_ffi.Module:
    return tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_test_layouts", cpp_sources=SOURCE, functions=FUNCTIONS
    )


def index_code(shape: tuple[int, ...]) -> np.ndarray:
    """code(index) = sum of index[k] * 10^(ndim-1-k), as the kernel computes it."""
    code = np.zeros(shape, np.float32)
    for k, size in enumerate(shape):
        axis = np.arange(size, dtype=np.float32) * 10.0 ** (len(shape) - 1 - k)
        code += axis.reshape([size if j == k else 1 for j in range(len(shape))])
    return code


def strides_of(shape: tuple[int, ...], major_to_minor: tuple[int, ...] | None) -> list[int]:
    """The element strides of ``shape`` laid out ``major_to_minor`` (None: row-major)."""
    order = range(len(shape)) if major_to_minor is None else major_to_minor
    strides = [0] * len(shape)
    stride = 1
    for dim in reversed(tuple(order)):
        strides[dim] = stride
        stride *= shape[dim]
    return strides


def data(shape: tuple[int, ...]) -> jax.Array:
    return jnp.arange(np.prod(shape), dtype=jnp.float32).reshape(shape) * 0.5


RUNS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "eager": lambda f: f,
    "jit": jax.jit,
    # XLA has to transpose into and out of the layouts between other operations.
    "jit_fused": lambda f: jax.jit(lambda *xs: f(*(x + 1 for x in xs)) * 3),
}


def expected(run: str, reference: Callable[..., Any], *xs: Any) -> Any:
    if run == "jit_fused":
        return reference(*(x + 1 for x in xs)) * 3
    return reference(*xs)


# (shape, input major-to-minor, output major-to-minor)
CASES = {
    "column_major_in": ((3, 4), (1, 0), None),
    "column_major_out": ((3, 4), None, (1, 0)),
    "column_major_both": ((3, 4), (1, 0), (1, 0)),
    "3d_permutations": ((2, 3, 4), (2, 0, 1), (1, 2, 0)),
    "3d_in_only": ((2, 3, 4), (1, 2, 0), None),
}


@pytest.mark.parametrize("run", list(RUNS))
@pytest.mark.parametrize("case", list(CASES))
def test_kernel_reads_and_writes_through_true_strides(mod: Any, case: str, run: str) -> None:
    shape, in_layout, out_layout = CASES[case]
    f = jax_tvm_ffi.ffi_function(
        mod.add_index,
        lambda x: x,
        input_layouts=[in_layout],
        output_layouts=[out_layout],
    )
    x = data(shape)
    got = RUNS[run](f)(x)
    want = expected(run, lambda x: x + index_code(shape), x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("run", ["eager", "jit"])
@pytest.mark.parametrize("case", list(CASES))
def test_views_carry_the_strides_of_the_layouts(mod: Any, case: str, run: str) -> None:
    shape, in_layout, out_layout = CASES[case]
    rank = len(shape)
    f = jax_tvm_ffi.ffi_function(
        mod.double_and_strides,
        lambda x: (x, jax.ShapeDtypeStruct((2 * rank,), jnp.int32)),
        input_layouts=[in_layout],
        output_layouts=[out_layout, None],
    )
    x = data(shape)
    y, strides = RUNS[run](f)(x)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(2 * x))
    assert list(np.asarray(strides)) == strides_of(shape, out_layout) + strides_of(shape, in_layout)


def test_a_single_output_layout_and_jax_layout_objects(mod: Any) -> None:
    f = jax_tvm_ffi.ffi_function(
        mod.add_index,
        lambda x: x,
        input_layouts=[Layout((1, 0))],
        output_layouts=(1, 0),  # one layout alone, for the one result, as ffi_call takes it
    )
    x = data((3, 5))
    np.testing.assert_array_equal(np.asarray(jax.jit(f)(x)), np.asarray(x + index_code((3, 5))))


@pytest.mark.parametrize("vmap_method", ["sequential", "expand_dims", "broadcast_all"])
def test_vmap_batch_dimension_is_major_most(mod: Any, vmap_method: str) -> None:
    f = jax_tvm_ffi.ffi_function(
        mod.double_it,
        lambda x: x,
        vmap_method=vmap_method,
        input_layouts=[(1, 0)],
        output_layouts=[(1, 0)],
    )
    xs = data((4, 3, 5))
    got = jax.jit(jax.vmap(f))(xs)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(2 * xs))


def test_vmap_of_an_index_dependent_kernel(mod: Any) -> None:
    # Sequential: each batch element is one call of rank 2, laid out column-major.
    f = jax_tvm_ffi.ffi_function(
        mod.add_index, lambda x: x, input_layouts=[(1, 0)], output_layouts=[(0, 1)]
    )
    xs = data((3, 2, 4))
    got = jax.jit(jax.vmap(f))(xs)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(xs + index_code((2, 4))))


def test_row_major_layouts_are_the_plain_registration(mod: Any) -> None:
    plain = jax_tvm_ffi.ffi_function(mod.double_it, lambda x: x)
    spelled = jax_tvm_ffi.ffi_function(
        mod.double_it, lambda x: x, input_layouts=[None], output_layouts=[(0, 1)]
    )
    column = jax_tvm_ffi.ffi_function(mod.double_it, lambda x: x, input_layouts=[(1, 0)])
    assert spelled.target_name == plain.target_name  # the same registration: the straight path
    assert column.target_name != plain.target_name  # one function, two layouts: two targets
    x = data((2, 3))
    for f in (plain, spelled, column):
        np.testing.assert_array_equal(np.asarray(jax.jit(f)(x)), np.asarray(2 * x))


def test_same_layouts_reuse_the_registration(mod: Any) -> None:
    a = jax_tvm_ffi.ffi_function(mod.double_it, lambda x: x, input_layouts=[(1, 0)])
    b = jax_tvm_ffi.ffi_function(mod.double_it, lambda x: x, input_layouts=[Layout((1, 0))])
    assert a.target_name == b.target_name


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"input_layouts": [(0, 0)]}, ValueError, r"input_layouts\[0\] \(0, 0\) is not a perm"),
        ({"input_layouts": [(0, 2)]}, ValueError, r"input_layouts\[0\] \(0, 2\) is not a perm"),
        ({"output_layouts": [(1, 0.5)]}, ValueError, r"output_layouts\[0\] .* not a permutation"),
        ({"input_layouts": ["ab"]}, TypeError, r"input_layouts\[0\] must be None, a sequence"),
        ({"input_layouts": 3}, TypeError, r"input_layouts must be a sequence"),
        (
            {"input_layouts": [Layout((1, 0), ((8, 128),))]},
            ValueError,
            r"input_layouts\[0\] has a tiling",
        ),
    ],
)
def test_bad_layouts_are_refused_when_made(
    mod: Any, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=r"ffi_function: " + match):
        jax_tvm_ffi.ffi_function(mod.double_it, lambda x: x, **kwargs)


def test_layout_of_the_wrong_rank_is_refused_at_trace_time(mod: Any) -> None:
    f = jax_tvm_ffi.ffi_function(
        mod.double_it, lambda x: x, name="layouts.wrong_rank", input_layouts=[(1, 0)]
    )
    with pytest.raises(
        ValueError,
        match=r"ffi_function\('layouts.wrong_rank'\): input_layouts\[0\] names 2 dimension\(s\), "
        r"but input 0 has shape \(6,\) \(rank 1\)",
    ):
        jax.jit(f)(jnp.zeros((6,), jnp.float32))


def test_wrong_number_of_operands_is_refused(mod: Any) -> None:
    f = jax_tvm_ffi.ffi_function(
        mod.double_it, lambda x, y: x, name="layouts.count", input_layouts=[(1, 0)]
    )
    x = jnp.zeros((2, 3), jnp.float32)
    with pytest.raises(ValueError, match=r"'layouts.count'\): input_layouts gives 1 layout"):
        f(x, x)
    g = jax_tvm_ffi.ffi_function(
        mod.double_it, lambda x: x, name="layouts.out_count", output_layouts=[(1, 0), (1, 0)]
    )
    with pytest.raises(ValueError, match=r"output_layouts gives 2 layout\(s\), but the call has 1"):
        g(x)


def test_layouts_are_refused_for_owned_tensors(mod: Any) -> None:
    def python_kernel(x: Any, y: Any) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x)

    for function, owned in ((python_kernel, False), (mod.double_it, True)):
        with pytest.raises(ValueError, match="need borrowed views"):
            jax_tvm_ffi.ffi_function(
                function, lambda x: x, input_layouts=[(1, 0)], pass_owned_tensor=owned
            )
    # Row-major layouts need nothing: accepted.
    jax_tvm_ffi.ffi_function(python_kernel, lambda x: x, input_layouts=[(0, 1)])


def test_register_ffi_target_takes_no_layouts(mod: Any) -> None:
    # The bridge cannot see layouts given to a plain ffi_call: only ffi_function takes them.
    with pytest.raises(TypeError):
        jax_tvm_ffi.register_ffi_target(  # type: ignore[call-arg]
            "layouts.plain", mod.double_it, input_layouts=[(1, 0)]
        )


def test_layouts_with_a_workspace_and_under_scan(mod: Any) -> None:
    # The workspace is appended after the results the layouts describe; it stays row-major.
    f = jax_tvm_ffi.ffi_function(
        mod.add_index,
        lambda x: x,
        input_layouts=[(1, 0)],
        output_layouts=[(1, 0)],
        workspace_bytes=64,
    )
    x = data((3, 4))

    def step(carry: jax.Array, _: Any) -> tuple[jax.Array, None]:
        return f(carry), None

    got, _ = jax.jit(lambda x: jax.lax.scan(step, x, None, length=2))(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(x + 2 * index_code((3, 4))))
