"""Signature checks: ``ffi_function`` checks a call against the function's tvm-ffi type metadata
while JAX traces it (before XLA compiles), and leaves functions without metadata unchecked.

The kernels are tests/data/signature_kernels.cc, built twice: with
``-DTVM_FFI_DLL_EXPORT_INCLUDE_METADATA=1`` (the module exports each function's type schema) and
without (it exports none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi

import jax_tvm_ffi
from jax_tvm_ffi import _signature as sig
from jax_tvm_ffi._core import core

DATA_DIR = Path(__file__).parent / "data"
METADATA_FLAG = "-DTVM_FFI_DLL_EXPORT_INCLUDE_METADATA=1"
FUNCTIONS = ["sig_axpy", "sig_kinds", "sig_owned"]
GLOBAL_AXPY = "jax_tvm_ffi_test.signature.axpy"
KINDS_SPEC = [
    "rets",
    "args.0?",
    "attrs.n",
    "attrs.f",
    "attrs.b",
    "attrs.s",
    "attrs.arr",
    "attrs.m",
]
KINDS_ATTRS: dict[str, Any] = {
    "n": 3,
    "f": 2.5,
    "b": True,
    "s": "four",
    "arr": np.array([1, 2, 3], np.int64),
    "m": {"k": 7},
}
OUT7 = jax.ShapeDtypeStruct((7,), jnp.float64)
VEC = jax.ShapeDtypeStruct((4,), jnp.float32)


def _build(name: str, flags: list[str]) -> tvm_ffi.Module:
    return tvm_ffi.cpp.load_inline(
        name=name,
        cpp_sources=(DATA_DIR / "signature_kernels.cc").read_text(),
        functions=FUNCTIONS,
        extra_cflags=flags,
    )


@pytest.fixture(scope="module")
def meta() -> tvm_ffi.Module:
    """The kernels with metadata, and the reflection global function registered."""
    return _build("jax_tvm_ffi_signature_meta", [METADATA_FLAG, "-DSIG_REGISTER_GLOBALS=1"])


@pytest.fixture(scope="module")
def plain() -> tvm_ffi.Module:
    """The same kernels without metadata."""
    return _build("jax_tvm_ffi_signature_plain", [])


def _vectors() -> tuple[jax.Array, jax.Array]:
    return jnp.arange(4, dtype=jnp.float32), jnp.full((4,), 10.0, jnp.float32)


def _axpy(function: Any, arg_spec: list[str] | None = None, **options: Any):
    return jax_tvm_ffi.ffi_function(
        function,
        VEC,
        arg_spec=["args", "rets", "attrs.a"] if arg_spec is None else arg_spec,
        **options,
    )


# The pure pieces, by themselves.


def test_given_by_item_maps_each_item_to_its_kind() -> None:
    attrs = {"i": 1, "f": 1.5, "b": True, "s": "x", "t": (1, 2), "a": np.zeros(2), "m": {"k": 1}}
    kinds = {
        item: [g.kind for g in sig.given_by_item(item, attrs, [0, 2], [1])]
        for item in (
            "args",
            "rets",
            "args.1",
            "rets.0",
            "args.1?",
            "rets.0?",
            "none",
            "ctx.stream",
            "ctx.device_id",
            *(f"attrs.{k}" for k in attrs),
        )
    }
    assert kinds == {
        "args": [sig.TENSOR, sig.TENSOR],
        "rets": [sig.TENSOR],
        "args.1": [sig.TENSOR],
        "rets.0": [sig.TENSOR],
        "args.1?": [sig.OPTIONAL_TENSOR],
        "rets.0?": [sig.OPTIONAL_TENSOR],
        "none": [sig.NONE],
        "ctx.stream": [sig.INT],
        "ctx.device_id": [sig.INT],
        "attrs.i": [sig.INT],
        "attrs.f": [sig.FLOAT],
        "attrs.b": [sig.BOOL],
        "attrs.s": [sig.STRING],
        "attrs.t": [sig.ARRAY],
        "attrs.a": [sig.ARRAY],
        "attrs.m": [sig.MAP],
    }


def test_given_by_item_names_buffers_and_attributes() -> None:
    assert [g.what for g in sig.given_by_item("args", {}, [0, 2], [])] == [
        'input 0 (from "args")',
        'input 2 (from "args")',
    ]
    assert sig.given_by_item("rets.3?", {}, [], [])[0].what == 'output 3 (from "rets.3?")'
    assert sig.given_by_item("attrs.eps", {"eps": 0.5}, [], [])[0].what == "attribute 'eps' = 0.5"
    owned = sig.given_by_item("args", {}, [0], [], tensor=sig.OWNED_TENSOR)
    assert [g.kind for g in owned] == [sig.OWNED_TENSOR]


def test_given_by_item_leaves_unknown_items_unchecked() -> None:
    assert sig.given_by_item("ctx.something_new", {}, [], []) is None
    assert sig.given_by_item("attrs.missing", {}, [], []) is None
    assert sig.given_by_item("attrs.x", {"x": object()}, [], []) is None


def test_attribute_kind_of_numpy_values() -> None:
    assert sig.attribute_kind(np.float32(1)) == sig.FLOAT
    assert sig.attribute_kind(np.int8(1)) == sig.INT
    assert sig.attribute_kind(np.bool_(True)) == sig.BOOL
    assert sig.attribute_kind(np.array([True])) == sig.ARRAY


def test_parse_signature_reads_types_optional_and_variant() -> None:
    schema = (
        '{"type":"ffi.Function","named_args":{"return":[{"type":"None"}],"params":['
        '{"type":"DLTensor*"},{"type":"Optional","args":[{"type":"DLTensor*"}]},'
        '{"type":"ffi.Array","args":[{"type":"int"}]},'
        '{"type":"Variant","args":[{"type":"int"},{"type":"ffi.String"}]},{"type":"Any"}]}}'
    )
    params = sig.parse_signature(schema)
    assert [p.text for p in params] == [
        "DLTensor*",
        "Optional<DLTensor*>",
        "ffi.Array<int>",
        "Variant<int, ffi.String>",
        "Any",
    ]
    assert params[1].kinds == {sig.TENSOR, sig.OWNED_TENSOR, sig.NONE}
    assert params[3].kinds == {sig.INT, sig.BOOL, sig.STRING}
    assert params[4].kinds is None  # Any takes anything
    # A packed function's schema lists no parameters: it takes anything.
    assert sig.parse_signature('{"type":"ffi.Function"}') is None


# Where the metadata comes from.


def test_module_metadata_is_read_only_when_built_with_it(meta, plain) -> None:
    assert '"type_schema"' in str(core().function_metadata(meta.sig_axpy))
    assert str(core().function_metadata(plain.sig_axpy)) == ""
    assert sig.signature_of(plain.sig_axpy) is None
    assert [p.text for p in sig.signature_of(meta.sig_axpy)] == [
        "DLTensor*",
        "DLTensor*",
        "DLTensor*",
        "float",
    ]


def test_python_functions_have_no_signature() -> None:
    tvm_ffi.register_global_func("jax_tvm_ffi_test.signature.python", lambda x, y: None)
    assert sig.signature_of("jax_tvm_ffi_test.signature.python") is None
    assert sig.signature_of(tvm_ffi.convert(lambda x, y: None)) is None
    assert sig.signature_of(lambda x, y: None) is None


# A matching call passes and computes.


def test_matching_call_computes(meta) -> None:
    x, y = _vectors()
    f = _axpy(meta.sig_axpy)
    np.testing.assert_allclose(f(x, y, a=2.0), 2.0 * x + y)
    np.testing.assert_allclose(jax.jit(lambda x, y: f(x, y, a=-1.0))(x, y), y - x)


def test_matching_call_of_every_kind_computes(meta) -> None:
    f = jax_tvm_ffi.ffi_function(meta.sig_kinds, OUT7, arg_spec=KINDS_SPEC)
    present = f(jnp.array([5.0]), **KINDS_ATTRS)
    absent = jax.jit(lambda m: f(m, **KINDS_ATTRS))(jnp.zeros((0,)))
    np.testing.assert_array_equal(present, [5.0, 3, 2.5, 1, 4, 6, 7])
    np.testing.assert_array_equal(absent, [-1.0, 3, 2.5, 1, 4, 6, 7])


def test_conversions_tvm_ffi_makes_are_accepted(meta) -> None:
    # An int for the float, an int for the bool, None for the optional.
    spec = ["rets", "none", *KINDS_SPEC[2:]]
    f = jax_tvm_ffi.ffi_function(meta.sig_kinds, OUT7, arg_spec=spec)
    out = f(**{**KINDS_ATTRS, "f": 2, "b": 0, "arr": np.array([4, 5], np.int32)})
    np.testing.assert_array_equal(out, [-1.0, 3, 2, 0, 4, 9, 7])


def test_context_items_are_ints(meta) -> None:
    spec = ["rets", "args.0?", "ctx.device_id", *KINDS_SPEC[3:]]
    f = jax_tvm_ffi.ffi_function(meta.sig_kinds, OUT7, arg_spec=spec)
    attrs = {k: v for k, v in KINDS_ATTRS.items() if k != "n"}
    np.testing.assert_array_equal(f(jnp.zeros((0,)), **attrs)[1], 0)


def test_workspace_is_not_counted_as_a_parameter(meta) -> None:
    x, y = _vectors()
    f = _axpy(meta.sig_axpy, workspace_bytes=64)
    np.testing.assert_allclose(f(x, y, a=3.0), 3.0 * x + y)


# Each kind mismatch raises, naming the target and the parameter.


@pytest.mark.parametrize(
    ("attribute", "value", "parameter", "given"),
    [
        ("n", "three", "parameter 2 (int)", "attribute 'n' = 'three', passed as a string"),
        ("n", 1.5, "parameter 2 (int)", "passed as a float"),
        ("f", "x", "parameter 3 (float)", "passed as a string"),
        ("b", 0.5, "parameter 4 (bool)", "passed as a float"),
        ("s", 4, "parameter 5 (ffi.String)", "attribute 's' = 4, passed as an int"),
        ("arr", {"k": 1}, "parameter 6 (ffi.Array<int>)", "passed as a map"),
        ("m", (1, 2), "parameter 7 (ffi.Map<ffi.String, int>)", "passed as an array"),
    ],
)
def test_attribute_of_the_wrong_kind_raises(meta, attribute, value, parameter, given) -> None:
    f = jax_tvm_ffi.ffi_function(meta.sig_kinds, OUT7, arg_spec=KINDS_SPEC)
    with pytest.raises(TypeError) as error:
        f(jnp.zeros((0,)), **{**KINDS_ATTRS, attribute: value})
    message = str(error.value)
    assert f"ffi_function('{f.target_name}')" in message
    assert f"{parameter} is given" in message
    assert given in message


@pytest.mark.parametrize(
    ("arg_spec", "parameter", "given"),
    [
        # A buffer where the int goes.
        (["rets", "args.0?", "args.1", *KINDS_SPEC[3:]], "parameter 2 (int)", "input 1"),
        # An attribute where the output tensor goes.
        (["attrs.n", "args.0?", "rets", *KINDS_SPEC[3:]], "parameter 0 (DLTensor*)", "'n' = 3"),
        # A buffer that may be None where a plain tensor goes.
        (["rets.0?", "args.0?", *KINDS_SPEC[2:]], "parameter 0 (DLTensor*)", "without '?'"),
        # None where a non-optional parameter goes.
        (["rets", "args.0?", "none", *KINDS_SPEC[3:]], "parameter 2 (int)", "None"),
    ],
)
def test_buffer_or_none_of_the_wrong_kind_raises(meta, arg_spec, parameter, given) -> None:
    f = jax_tvm_ffi.ffi_function(meta.sig_kinds, OUT7, arg_spec=arg_spec)
    attrs = {k: v for k, v in KINDS_ATTRS.items() if f"attrs.{k}" in arg_spec}
    inputs = [jnp.zeros((0,)), jnp.zeros((2,))][: 2 if "args.1" in arg_spec else 1]
    with pytest.raises(TypeError, match=r"parameter \d") as error:
        f(*inputs, **attrs)
    assert f"{parameter} is given" in str(error.value)
    assert given in str(error.value)


def test_message_quotes_the_signature(meta) -> None:
    spec = ["args.0", "rets", *KINDS_SPEC[2:]]  # a tensor fits the Optional<DLTensor*> too
    f = jax_tvm_ffi.ffi_function(meta.sig_kinds, OUT7, arg_spec=spec)
    with pytest.raises(TypeError) as error:
        f(jnp.zeros((3,)), **{**KINDS_ATTRS, "s": 1})
    message = str(error.value)
    assert "(DLTensor*, Optional<DLTensor*>, int, float, bool, ffi.String, " in message
    assert "parameter 5 (ffi.String) is given attribute 's' = 1, passed as an int" in message


def test_owned_tensor_parameter_needs_pass_owned_tensor(meta) -> None:
    x = jnp.array([1.0], jnp.float32)
    shape = jax.ShapeDtypeStruct((1,), jnp.float32)
    borrowed = jax_tvm_ffi.ffi_function(meta.sig_owned, shape)
    with pytest.raises(
        TypeError, match=r"parameter 0 \(ffi.Tensor\) is given input 0.*pass_owned_tensor=True"
    ):
        borrowed(x)
    owned = jax_tvm_ffi.ffi_function(meta.sig_owned, shape, pass_owned_tensor=True)
    np.testing.assert_array_equal(owned(x), [2.0])


# Wrong parameter count.


def test_too_many_buffers_raises(meta) -> None:
    x, y = _vectors()
    f = _axpy(meta.sig_axpy)
    with pytest.raises(TypeError) as error:
        f(x, y, y, a=1.0)
    message = str(error.value)
    assert f"ffi_function('{f.target_name}')" in message
    assert "takes 4 parameter(s), but arg_spec ['args', 'rets', 'attrs.a'] passes 5" in message
    assert 'input 2 (from "args"), float32[4]' in message


def test_too_few_items_raises(meta) -> None:
    x, y = _vectors()
    f = _axpy(meta.sig_axpy, arg_spec=["args", "rets"])
    with pytest.raises(TypeError, match=r"takes 4 parameter\(s\), but .* passes 3"):
        f(x, y)


# Functions without metadata work as today: nothing is checked at trace time.


def test_function_without_metadata_is_not_checked(plain) -> None:
    x, y = _vectors()
    f = _axpy(plain.sig_axpy)
    np.testing.assert_allclose(f(x, y, a=2.0), 2.0 * x + y)
    # A call the signature refuses still lowers: only tvm-ffi would refuse it, at run time.
    jax.jit(lambda x, y: f(x, y, y, a=1.0)).lower(x, y)
    jax.jit(lambda x, y: f(x, y, a="two")).lower(x, y)


def test_python_callable_is_not_checked() -> None:
    def add(x, y, out):
        np.from_dlpack(out)[...] = np.from_dlpack(x) + np.from_dlpack(y)

    x, y = _vectors()
    np.testing.assert_allclose(jax_tvm_ffi.ffi_function(add, VEC)(x, y), x + y)


# The check runs while JAX traces the call: before XLA compiles or runs anything.


def test_check_runs_at_trace_time(meta) -> None:
    x, y = _vectors()
    f = _axpy(meta.sig_axpy)
    with pytest.raises(TypeError, match="parameter 3 \\(float\\)"):
        jax.jit(lambda x, y: f(x, y, a="two")).lower(x, y)
    with pytest.raises(TypeError, match="passes 5"):
        jax.eval_shape(lambda x, y: f(x, y, y, a=1.0), x, y)
    assert jax.eval_shape(lambda x, y: f(x, y, a=1.0), x, y).shape == (4,)


def test_a_passing_call_does_not_hide_a_later_mismatch(meta) -> None:
    x, y = _vectors()
    f = _axpy(meta.sig_axpy)
    f(x, y, a=1.0)
    with pytest.raises(TypeError, match="parameter 3"):
        f(x, y, a="one")
    f(x, y, a=2.0)


def test_check_under_vmap(meta) -> None:
    x, y = _vectors()
    f = _axpy(meta.sig_axpy)
    xs, ys = jnp.stack([x, x]), jnp.stack([y, -y])
    np.testing.assert_allclose(jax.vmap(lambda x, y: f(x, y, a=2.0))(xs, ys), 2.0 * xs + ys)
    with pytest.raises(TypeError, match="parameter 3"):
        jax.vmap(lambda x, y: f(x, y, a="two"))(xs, ys)


# Global functions: reflection records a schema for every typed global function.


def test_global_function_by_name_is_checked(meta) -> None:
    x, y = _vectors()
    assert sig.signature_of(GLOBAL_AXPY) is not None
    f = _axpy(GLOBAL_AXPY)
    np.testing.assert_allclose(f(x, y, a=2.0), 2.0 * x + y)
    with pytest.raises(TypeError, match=r"parameter 3 \(float\) is given attribute 'a' = 'x'"):
        f(x, y, a="x")


def test_python_global_function_is_not_checked() -> None:
    def add(x, y, out):
        np.from_dlpack(out)[...] = np.from_dlpack(x) + np.from_dlpack(y)

    tvm_ffi.register_global_func("jax_tvm_ffi_test.signature.python_add", add, override=True)
    x, y = _vectors()
    f = jax_tvm_ffi.ffi_function(
        "jax_tvm_ffi_test.signature.python_add", VEC, pass_owned_tensor=True
    )
    np.testing.assert_allclose(f(x, y), x + y)
