"""``jax_tvm_ffi.ffi_function``: the one-line API (result shapes, naming, caching, checks)."""

from __future__ import annotations

import doctest
import itertools
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi
from ffi_function_support import RMS_SPEC, kernels, rms_norm_reference, rms_norm_shapes

import jax_tvm_ffi
from jax_tvm_ffi import _ffi_function

EPS = 1e-6
X = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
_serial = itertools.count()


def fresh(label: str) -> str:
    return f"jax_tvm_ffi_test.ffi_function.{label}.{next(_serial)}"


def double(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
    np.from_dlpack(y)[...] = np.from_dlpack(x) * 2


def same_shape(x: jax.ShapeDtypeStruct) -> jax.ShapeDtypeStruct:
    return x


# Result shapes -----------------------------------------------------------------------------


def test_single_shape_dtype_struct_returns_one_array() -> None:
    f = jax_tvm_ffi.ffi_function(double, jax.ShapeDtypeStruct(X.shape, X.dtype))
    out = f(X)
    assert isinstance(out, jax.Array)
    np.testing.assert_array_equal(out, X * 2)


def test_pytree_of_results_returns_the_same_pytree() -> None:
    results = {
        "y": jax.ShapeDtypeStruct(X.shape, X.dtype),
        "inv_rms": jax.ShapeDtypeStruct(X.shape[:1], X.dtype),
    }

    # dict leaves are ordered by key: inv_rms comes first, so the kernel's outputs must too.
    def swapped(x: Any, inv_rms: Any, y: Any, eps: float) -> None:
        kernels().rms_norm_fwd(x, y, inv_rms, eps)

    f = jax_tvm_ffi.ffi_function(swapped, results, arg_spec=RMS_SPEC)
    out = f(X, eps=EPS)
    assert set(out) == {"y", "inv_rms"}
    np.testing.assert_allclose(out["y"], rms_norm_reference(X, EPS), rtol=1e-5)
    np.testing.assert_allclose(out["inv_rms"], 1 / np.sqrt((X * X).mean(axis=1) + EPS), rtol=1e-5)


def test_tuple_of_results_from_a_tvm_function() -> None:
    f = jax_tvm_ffi.ffi_function(kernels().rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC)
    y, inv_rms = f(X, eps=EPS)
    np.testing.assert_allclose(y, rms_norm_reference(X, EPS), rtol=1e-5)
    assert inv_rms.shape == (3,)


def test_result_function_gets_input_shapes_and_attributes() -> None:
    seen: list[Any] = []

    def shapes(x: jax.ShapeDtypeStruct, *, eps: float) -> Any:
        seen.append((x, eps))
        return rms_norm_shapes(x, eps=eps)

    f = jax_tvm_ffi.ffi_function(kernels().rms_norm_fwd, shapes, arg_spec=RMS_SPEC)
    jax.jit(lambda x: f(x, eps=0.5))(X)
    [(x_shape, eps)] = seen
    assert isinstance(x_shape, jax.ShapeDtypeStruct)
    assert (x_shape.shape, x_shape.dtype, eps) == (X.shape, np.float32, 0.5)


def test_result_function_sees_local_shapes_under_vmap() -> None:
    seen: list[tuple[int, ...]] = []

    def shapes(a: jax.ShapeDtypeStruct, v: jax.ShapeDtypeStruct) -> jax.ShapeDtypeStruct:
        seen.append(a.shape)
        return jax.ShapeDtypeStruct(a.shape[:-1], a.dtype)

    matvec = jax_tvm_ffi.ffi_function(kernels().matvec, shapes, vmap_method="broadcast_all")
    a = np.ones((5, 2, 3), np.float32)
    out = jax.vmap(matvec, in_axes=(0, None))(a, np.ones(3, np.float32))
    np.testing.assert_array_equal(out, np.full((5, 2), 3, np.float32))
    assert seen == [(2, 3)]


# Function sources --------------------------------------------------------------------------


def test_global_function_by_name() -> None:
    name = fresh("global")
    tvm_ffi.register_global_func(name, double)
    f = jax_tvm_ffi.ffi_function(name, same_shape)
    np.testing.assert_array_equal(jax.jit(f)(X), X * 2)


def test_python_exception_becomes_a_jax_error() -> None:
    def fail(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        raise ValueError("refusing this input")

    f = jax_tvm_ffi.ffi_function(fail, same_shape)
    with pytest.raises(Exception, match="refusing this input"):
        jax.block_until_ready(f(X))


# Names and registration --------------------------------------------------------------------


def test_same_function_and_options_register_once() -> None:
    before = jax_tvm_ffi.registered_count()
    name = fresh("once")
    first = jax_tvm_ffi.ffi_function(
        kernels().matvec, lambda a, v: v, name=name, vmap_method="sequential"
    )
    second = jax_tvm_ffi.ffi_function(
        kernels().matvec, lambda a, v: v, name=name, vmap_method="broadcast_all"
    )
    a, v = np.eye(3, dtype=np.float32), np.arange(3, dtype=np.float32)
    for f in (first, second, first):
        np.testing.assert_array_equal(jax.jit(f)(a, v), v)
    assert jax_tvm_ffi.registered_count() == before + 1


def test_same_function_gets_the_same_generated_name() -> None:
    def quadruple(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) * 4

    before = jax_tvm_ffi.registered_count()
    functions = [jax_tvm_ffi.ffi_function(quadruple, same_shape) for _ in range(3)]
    assert len({f.target_name for f in functions}) == 1
    for f in functions:
        np.testing.assert_array_equal(f(X), X * 4)
    assert jax_tvm_ffi.registered_count() == before + 1


def test_different_registration_options_get_different_targets() -> None:
    mod = kernels()
    plain = jax_tvm_ffi.ffi_function(mod.rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC)
    partitionable = jax_tvm_ffi.ffi_function(
        mod.rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC, batch_partitionable=True
    )
    other_function = jax_tvm_ffi.ffi_function(mod.add_into, lambda a, u: (a, a))
    names = {plain.target_name, partitionable.target_name, other_function.target_name}
    assert len(names) == 3
    assert all(name.startswith("jax_tvm_ffi.") for name in names)


def test_generated_name_is_readable() -> None:
    def my_kernel(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        double(x, y)

    f = jax_tvm_ffi.ffi_function(my_kernel, same_shape)
    assert f.target_name.startswith("jax_tvm_ffi.my_kernel")
    assert f.target_name in repr(f)


def test_explicit_name_is_the_target_name() -> None:
    name = fresh("explicit")
    f = jax_tvm_ffi.ffi_function(double, same_shape, name=name)
    assert f.target_name == name
    np.testing.assert_array_equal(f(X), X * 2)
    # the target is an ordinary XLA FFI target, callable without the wrapper too
    np.testing.assert_array_equal(
        jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(X.shape, X.dtype))(X), X * 2
    )


def test_explicit_name_latest_function_wins() -> None:
    name = fresh("rebound")

    def triple(x: tvm_ffi.Tensor, y: tvm_ffi.Tensor) -> None:
        np.from_dlpack(y)[...] = np.from_dlpack(x) * 3

    first = jax_tvm_ffi.ffi_function(double, same_shape, name=name, platform="cpu")
    np.testing.assert_array_equal(first(X), X * 2)
    with pytest.warns(UserWarning, match=f"every FfiFunction named '{name}' now calls .*triple"):
        second = jax_tvm_ffi.ffi_function(triple, same_shape, name=name, platform="cpu")
    np.testing.assert_array_equal(second(X), X * 3)
    np.testing.assert_array_equal(first(X), X * 3)  # one name, one function: the latest
    with pytest.warns(UserWarning, match="the name was bound to .*triple"):
        again = jax_tvm_ffi.ffi_function(double, same_shape, name=name, platform="cpu")
    np.testing.assert_array_equal(again(X), X * 2)
    np.testing.assert_array_equal(second(X), X * 2)


def test_explicit_platform_registers_at_once_and_none_at_first_call() -> None:
    before = jax_tvm_ffi.registered_count()
    eager = jax_tvm_ffi.ffi_function(double, same_shape, name=fresh("eager"), platform="cpu")
    assert jax_tvm_ffi.registered_count() == before + 1
    assert eager.platform == "cpu"
    lazy = jax_tvm_ffi.ffi_function(double, same_shape, name=fresh("lazy"))
    assert jax_tvm_ffi.registered_count() == before + 1
    assert lazy.platform is None
    jax.jit(lazy).lower(X)  # tracing registers, before XLA compiles
    assert jax_tvm_ffi.registered_count() == before + 2
    assert lazy.register() == lazy.target_name
    assert jax_tvm_ffi.registered_count() == before + 2


def test_platform_comes_from_the_inputs_devices() -> None:
    cpu = jax.devices("cpu")[0]
    assert _ffi_function._platform_of_inputs([jax.device_put(X, cpu)]) == "cpu"
    assert _ffi_function._platform_of_inputs([X, 1.0]) == "cpu"  # NumPy: the default device
    with jax.default_device(cpu):
        assert _ffi_function._platform_of_inputs([]) == "cpu"


class FakeClient:
    def __init__(self, version: str) -> None:
        self.platform_version = version


class FakeDevice:
    def __init__(self, platform: str, version: str = "") -> None:
        self.platform = platform
        self.client = FakeClient(version)


@pytest.mark.parametrize(
    ("device", "platform"),
    [
        (FakeDevice("cpu"), "cpu"),
        (FakeDevice("gpu", "cuda 12080"), "cuda"),
        (FakeDevice("gpu", "rocm 6.3"), "rocm"),
        (FakeDevice("cuda"), "cuda"),
        (FakeDevice("rocm"), "rocm"),
    ],
)
def test_device_platforms(device: FakeDevice, platform: str) -> None:
    assert _ffi_function._device_platform(device) == platform


def test_unsupported_device_platform() -> None:
    with pytest.raises(ValueError, match="is 'tpu'.*supports 'cpu', 'cuda' and 'rocm'"):
        _ffi_function._device_platform(FakeDevice("tpu"))


def test_batch_partitionable_marks_the_name_once(monkeypatch: pytest.MonkeyPatch) -> None:
    marked: list[str] = []
    monkeypatch.setattr(jax.ffi, "register_ffi_target_as_batch_partitionable", marked.append)
    name = fresh("partitionable")
    mod = kernels()
    for _ in range(2):
        f = jax_tvm_ffi.ffi_function(
            mod.rms_norm_fwd,
            rms_norm_shapes,
            arg_spec=RMS_SPEC,
            name=name,
            batch_partitionable=True,
        )
        y, _ = jax.jit(lambda x, f=f: f(x, eps=EPS))(X)
        np.testing.assert_allclose(y, rms_norm_reference(X, EPS), rtol=1e-5)
    assert marked == [name]


def test_batch_partitionable_call_lowers_with_batch_attributes() -> None:
    f = jax_tvm_ffi.ffi_function(
        kernels().rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC, batch_partitionable=True
    )
    text = jax.jit(lambda x: f(x, eps=EPS)).lower(X).as_text()
    call = next(line for line in text.splitlines() if f"custom_call @{f.target_name}" in line)
    assert 'num_batch_dims = "1"' in call
    if jax.config.jax_use_shardy_partitioner:
        assert "sdy.sharding_rule = #sdy.op_sharding_rule<([i, j])->([i, k], [i]) {i=3" in call


def test_batch_partitionable_under_sequential_vmap_and_eagerly() -> None:
    f = jax_tvm_ffi.ffi_function(
        kernels().rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC, batch_partitionable=True
    )
    batch = np.stack([X, 2 * X])
    y, _ = jax.jit(jax.vmap(lambda x: f(x, eps=EPS)))(batch)
    np.testing.assert_allclose(y, rms_norm_reference(batch, EPS), rtol=1e-5)
    y, _ = f(X, eps=EPS)
    np.testing.assert_allclose(y, rms_norm_reference(X, EPS), rtol=1e-5)


def test_batch_partitionable_needs_a_shared_leading_dimension() -> None:
    matvec = jax_tvm_ffi.ffi_function(
        kernels().matvec,
        lambda a, v: jax.ShapeDtypeStruct(a.shape[:-1], a.dtype),
        batch_partitionable=True,
    )
    with pytest.raises(ValueError, match=r"same leading \(batch\) dimension.*\(4, 3\), \(3,\)"):
        matvec(np.ones((4, 3), np.float32), np.ones(3, np.float32))


# Argument checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((42, same_shape), {}, TypeError, "function must be a tvm_ffi.Function.*42"),
        (("no.such.global.function", same_shape), {}, ValueError, "no TVM FFI global"),
        (("", same_shape), {}, ValueError, "must not be empty"),
        ((double, "f32[3]"), {}, TypeError, "ShapeDtypeStruct.*'f32\\[3\\]'"),
        ((double, [jax.ShapeDtypeStruct((1,), jnp.float32), 3]), {}, TypeError, "contains 3"),
        ((double, []), {}, ValueError, "describes no results"),
        ((double, same_shape), {"name": ""}, ValueError, "name must not be empty"),
        ((double, same_shape), {"name": 7}, TypeError, "name must be a str"),
        ((double, same_shape), {"arg_spec": "args"}, TypeError, "list of strings"),
        ((double, same_shape), {"arg_spec": ["args", 1]}, TypeError, "item must be a str"),
        ((double, same_shape), {"platform": "tpu"}, ValueError, "unknown platform 'tpu'"),
        ((double, same_shape), {"platform": 0}, TypeError, "platform must be a str"),
        (
            (double, same_shape),
            {"vmap_method": "batched"},
            ValueError,
            "ffi_function: vmap_method must be .* but got: batched",
        ),
        ((double, same_shape), {"input_output_aliases": [0]}, TypeError, "must be a dict"),
        ((double, same_shape), {"input_output_aliases": {0: -1}}, TypeError, "non-negative"),
        (
            (double, jax.ShapeDtypeStruct((3,), jnp.float32)),
            {"input_output_aliases": {0: 1}},
            ValueError,
            "describes 1 result",
        ),
        ((double, same_shape), {"batch_partitionable": 1}, TypeError, "must be a bool"),
        ((double, same_shape), {"pass_owned_tensor": "yes"}, TypeError, "must be a bool"),
    ],
)
def test_argument_checks(args: tuple, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        jax_tvm_ffi.ffi_function(*args, **kwargs)


def test_invalid_arg_spec_item_with_platform_fails_at_once() -> None:
    with pytest.raises(ValueError, match="ret"):
        jax_tvm_ffi.ffi_function(double, same_shape, arg_spec=["args", "ret"], platform="cpu")


def test_invalid_arg_spec_item_fails_at_the_first_call() -> None:
    f = jax_tvm_ffi.ffi_function(kernels().matvec, same_shape, arg_spec=["args", "ret"])
    with pytest.raises(ValueError, match="ret"):
        f(X)


def test_attributes_must_match_the_arg_spec() -> None:
    f = jax_tvm_ffi.ffi_function(kernels().rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC)
    with pytest.raises(TypeError, match="missing eps"):
        f(X)
    with pytest.raises(TypeError, match="unexpected scale"):
        f(X, eps=EPS, scale=2.0)


def test_traced_attribute_is_refused_with_a_hint() -> None:
    f = jax_tvm_ffi.ffi_function(kernels().rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC)
    with pytest.raises(TypeError, match="attribute 'eps' is a traced value.*static_argnames"):
        jax.jit(f)(X, eps=EPS)
    y, _ = jax.jit(f, static_argnames="eps")(X, eps=EPS)
    np.testing.assert_allclose(y, rms_norm_reference(X, EPS), rtol=1e-5)


def test_result_function_must_return_shapes() -> None:
    f = jax_tvm_ffi.ffi_function(double, lambda x: x.shape)
    with pytest.raises(TypeError, match="result_shape_dtypes function's result"):
        f(X)


def test_docstring_examples_run() -> None:
    for module in (jax_tvm_ffi.register_ffi_target, jax_tvm_ffi.ffi_function):
        finder = doctest.DocTestFinder()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        for test in finder.find(module):
            runner.run(test)
        assert runner.failures == 0
        assert runner.tries > 0


# jax before 0.9.1 passes a bool array attribute bit-packed ([True, False, True] arrives as
# [5, 5, 5]); ffi_function refuses it there rather than let the kernel read wrong values.
def test_bool_array_attribute_is_refused_where_jax_corrupts_it() -> None:
    received: list[list[int]] = []

    def record(y: tvm_ffi.Tensor, mask: Any) -> None:
        received.append(list(mask))

    name = fresh("bool_mask")
    f = jax_tvm_ffi.ffi_function(
        record, jax.ShapeDtypeStruct((1,), np.float32), name=name, arg_spec=["rets", "attrs.mask"]
    )
    mask = np.array([True, False, True])
    if jax.__version_info__ < (0, 9, 1):
        expected = rf"'{re.escape(name)}'.*'mask' is a bool array.*np\.uint8"
        with pytest.raises(TypeError, match=expected):
            f(mask=mask)
        with pytest.raises(TypeError, match=r"'mask\.inner' is a bool array"):
            f(mask={"inner": mask})
    else:
        with pytest.raises(jax.errors.JaxRuntimeError, match="attribute"):
            jax.block_until_ready(f(mask=mask))
    jax.block_until_ready(f(mask=mask.astype(np.uint8)))
    assert received[-1] == [1, 0, 1]
