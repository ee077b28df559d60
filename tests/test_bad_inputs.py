"""Bad inputs: every misuse ends in a clear Python exception naming the target and the problem.

Registration errors are TypeError / ValueError from ``register_ffi_target``; call errors are
``jax.errors.JaxRuntimeError`` whose message carries the target name and what is wrong, in every
JAX context (eager, jit, vmap, scan, while_loop, donated buffers). A few values are refused by JAX
or XLA before the bridge sees them: those errors name the attribute or the type instead. Cases
that could end the interpreter run in a subprocess, which must exit normally.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import tvm_ffi
from subprocess_util import assert_exited, run_python

import jax_tvm_ffi

X = jnp.array([1.0, 2.0, 3.0], jnp.float32)


def ffi(name: str, x: jax.Array = X, **attrs: Any) -> jax.Array:
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype))(x, **attrs)


def call_error(run: Callable[[], Any]) -> str:
    """The message of the JaxRuntimeError that ``run`` raises (its result is materialised)."""
    with pytest.raises(jax.errors.JaxRuntimeError) as raised:
        jax.block_until_ready(run())
    return str(raised.value)


def after_target(message: str, name: str) -> str:
    """What the error says after naming the target; fails if it does not name it."""
    prefix = f"jax_tvm_ffi target '{name}': "
    assert prefix in message, message
    return message.split(prefix, 1)[1]


# ---------------------------------------------------------------------------------------------
# Registration


class NotCallable:
    pass


# (label, keyword arguments of register_ffi_target, exception, text the message must contain)
REGISTRATION_CASES = [
    ("function=None", {"function": None}, TypeError, "function must be"),
    ("function=int", {"function": 42}, TypeError, "got 42 of type int"),
    ("function=object", {"function": NotCallable()}, TypeError, "of type NotCallable"),
    ("function=list", {"function": [len]}, TypeError, "of type list"),
    ("function=unknown global", {"function": "no.such.global"}, ValueError, "no.such.global"),
    ("spec ret", {"arg_spec": ["args", "ret"]}, ValueError, 'Did you mean "rets"'),
    ("spec attrs.", {"arg_spec": ["attrs."]}, ValueError, "attribute name is empty"),
    ("spec attrs", {"arg_spec": ["args", "attrs"]}, ValueError, "needs a name"),
    ("spec ctx.foo", {"arg_spec": ["ctx.foo"]}, ValueError, '"ctx.foo": unknown item'),
    ("spec ctx", {"arg_spec": ["args", "ctx"]}, ValueError, '"ctx"'),
    ("spec empty item", {"arg_spec": [""]}, ValueError, 'item ""'),
    ("spec padded item", {"arg_spec": [" args"]}, ValueError, '" args"'),
    ("spec twice args", {"arg_spec": ["args", "rets", "args"]}, ValueError, "more than once"),
    ("spec twice attr", {"arg_spec": ["attrs.e", "attrs.e"]}, ValueError, "more than once"),
    ("spec twice stream", {"arg_spec": ["ctx.stream"] * 2}, ValueError, "more than once"),
    ("spec args.", {"arg_spec": ["args.", "rets"]}, ValueError, '"args.": the input index'),
    ("spec args.x", {"arg_spec": ["args.x"]}, ValueError, '"args.x": the input index'),
    ("spec args.-1", {"arg_spec": ["args.-1"]}, ValueError, "non-negative integer"),
    ("spec args.01", {"arg_spec": ["args.01"]}, ValueError, "no leading zeros"),
    ("spec rets.?", {"arg_spec": ["rets.?"]}, ValueError, '"rets.?": the output index'),
    ("spec args.0??", {"arg_spec": ["args.0??"]}, ValueError, '"args.0??"'),
    ("spec args.0 padded", {"arg_spec": ["args.0 "]}, ValueError, '"args.0 "'),
    ("spec args.1e3", {"arg_spec": ["args.1e3"]}, ValueError, '"args.1e3"'),
    ("spec args.huge", {"arg_spec": ["args.99999999"]}, ValueError, "larger than 1048576"),
    ("spec args?", {"arg_spec": ["args?"]}, ValueError, 'Did you mean "args"'),
    ("spec none?", {"arg_spec": ["none?"]}, ValueError, 'Did you mean "none"'),
    ("spec twice index", {"arg_spec": ["args.0", "rets", "args.0"]}, ValueError, "more than once"),
    ("spec index and ?", {"arg_spec": ["args.1?", "args.1"]}, ValueError, "already names"),
    ("spec rets twice", {"arg_spec": ["rets.0?", "args", "rets.0"]}, ValueError, "output 0"),
    ("spec item int", {"arg_spec": ["args", 3]}, TypeError, "3 of type int"),
    ("spec item None", {"arg_spec": [None]}, TypeError, "None of type NoneType"),
    ("spec item bytes", {"arg_spec": [b"args"]}, TypeError, "of type bytes"),
    ("spec item list", {"arg_spec": [["args"]]}, TypeError, "of type list"),
    ("spec str", {"arg_spec": "args"}, TypeError, "list of strings"),
    ("spec bytes", {"arg_spec": b"args"}, TypeError, "list of strings"),
    ("spec set", {"arg_spec": {"args"}}, TypeError, "not set"),
    ("spec int", {"arg_spec": 5}, TypeError, "not int"),
    ("platform tpu", {"platform": "tpu"}, ValueError, "unknown platform 'tpu'"),
    ("platform empty", {"platform": ""}, ValueError, "unknown platform ''"),
    ("platform None", {"platform": None}, TypeError, "platform must be a str"),
    ("platform int", {"platform": 0}, TypeError, "platform must be a str"),
]


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [case[1:] for case in REGISTRATION_CASES],
    ids=[case[0] for case in REGISTRATION_CASES],
)
def test_bad_registration(
    kernels: tvm_ffi.Module,
    unique_name: Callable[[str], str],
    options: dict[str, Any],
    error: type[Exception],
    text: str,
) -> None:
    name = unique_name()
    options = {"function": kernels.add_one_f32, **options}
    before = jax_tvm_ffi.registered_count()
    with pytest.raises(error) as raised:
        jax_tvm_ffi.register_ffi_target(name, **options)
    assert text in str(raised.value)
    assert f"'{name}'" in str(raised.value)
    assert jax_tvm_ffi.registered_count() == before


@pytest.mark.parametrize(
    ("name", "error", "text"),
    [("", ValueError, "must not be empty"), (None, TypeError, "not NoneType")]
    + [(3, TypeError, "not int"), (b"t", TypeError, "not bytes"), (["t"], TypeError, "not list")],
    ids=["empty", "None", "int", "bytes", "list"],
)
def test_bad_target_name(
    kernels: tvm_ffi.Module, name: Any, error: type[Exception], text: str
) -> None:
    before = jax_tvm_ffi.registered_count()
    with pytest.raises(error, match="name") as raised:
        jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32)
    assert text in str(raised.value)
    assert jax_tvm_ffi.registered_count() == before


def test_conflicting_reregistration_keeps_the_first(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    name = unique_name()
    jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32, allow_cuda_graph=False)
    with pytest.raises(ValueError, match="allow_cuda_graph=False") as raised:
        jax_tvm_ffi.register_ffi_target(name, kernels.times_two_f32, allow_cuda_graph=True)
    assert f"'{name}'" in str(raised.value)
    np.testing.assert_array_equal(ffi(name), X + 1)


def test_name_taken_by_a_foreign_handler(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    # Another library registered a different handler under the name with XLA directly (here one
    # of jaxlib's own LAPACK handlers). XLA refuses a second handler for the name.
    lapack = pytest.importorskip("jaxlib.lapack")
    name = unique_name()
    foreign = lapack._lapack.registrations()["lapack_strsm_ffi"]
    jax.ffi.register_ffi_target(name, foreign, platform="cpu", api_version=1)
    with pytest.raises(Exception, match="Duplicate FFI handler registration") as raised:
        jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32)
    assert name in str(raised.value)


# ---------------------------------------------------------------------------------------------
# Calls: the frame does not fit the registration


def test_missing_attribute(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.affine_attrs, ["args", "rets", "attrs.scale", "attrs.offset"])
    message = call_error(lambda: ffi(name, scale=2.0))
    assert "missing attribute 'offset'" in message and name in message


def test_extra_attribute(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.add_one_f32)
    message = call_error(lambda: ffi(name, eps=1e-5))
    assert "unexpected attribute 'eps'" in message and name in message
    assert 'add "attrs.eps" to arg_spec' in message


def test_attribute_of_the_wrong_type_for_the_kernel(kernels: tvm_ffi.Module, register) -> None:
    spec = ["args", "rets", "attrs.scale", "attrs.offset", "attrs.negate", "attrs.mode"]
    name = register(kernels.affine_attrs, spec)
    message = call_error(lambda: ffi(name, scale="x", offset=1, negate=False, mode="affine"))
    assert name in message and "TypeError" in message
    assert "argument #2" in message and "Expected `float`" in message


# Values JAX or XLA refuse before the bridge runs: (value, exception, text naming what is wrong).
UNSUPPORTED_ATTRIBUTES = [
    pytest.param(np.complex64(1j), TypeError, "complex64", id="complex scalar"),
    pytest.param(
        np.float16(1), jax.errors.JaxRuntimeError, "attribute: value", id="float16 scalar"
    ),
    pytest.param(None, TypeError, "NoneType", id="None"),
    pytest.param(
        np.array([1j], np.complex64), jax.errors.JaxRuntimeError, "attribute: value", id="c64[]"
    ),
    pytest.param((1, 2), jax.errors.JaxRuntimeError, "attribute: value", id="tuple"),
]


@pytest.mark.parametrize(("value", "error", "text"), UNSUPPORTED_ATTRIBUTES)
def test_attribute_of_an_unsupported_kind(
    register, value: Any, error: type[Exception], text: str
) -> None:
    name = register(lambda *args: None, ["attrs.value"])
    with pytest.raises(error) as raised:
        jax.block_until_ready(ffi(name, value=value))
    assert text in str(raised.value)


# jax 0.9.0 and older bit-pack a bool array attribute into bytes and lower it as a u8 array (the
# i1 type is dropped before XLA sees it), so the kernel receives integers; jax 0.9.1 and newer
# lower it as i1, for which XLA FFI has no attribute type, and XLA refuses the call. (Old jax
# also gives the packed bytes the array's shape: [True, False, True] arrives as [5, 5, 5].)
JAX_LOWERS_BOOL_ARRAYS_AS_U8 = jax.__version_info__ < (0, 9, 1)


def test_bool_array_attribute(register) -> None:
    received: list[list[Any]] = []
    name = register(lambda value: received.append(list(value)), ["attrs.value"])
    if JAX_LOWERS_BOOL_ARRAYS_AS_U8:
        jax.block_until_ready(ffi(name, value=np.array([True])))
        assert received == [[1]] and type(received[0][0]) is int
    else:
        with pytest.raises(jax.errors.JaxRuntimeError, match="attribute: value"):
            jax.block_until_ready(ffi(name, value=np.array([True])))
        assert received == []


def test_too_many_arguments_for_the_kernel(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.add_one_f32, ["args", "rets", "ctx.device_id"])
    message = call_error(lambda: ffi(name))
    assert name in message and "TypeError" in message and "arguments" in message


def test_too_few_arguments_for_the_kernel(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.add_one_f32, ["args"])
    message = call_error(lambda: ffi(name))
    assert name in message and "TypeError" in message and "arguments" in message


def test_wrong_arity_for_a_python_callback(register) -> None:
    def one_argument(x: Any) -> None:
        pass

    name = register(one_argument)
    message = call_error(lambda: ffi(name))
    assert name in message and "TypeError" in message and "2 were given" in message


# ---------------------------------------------------------------------------------------------
# Calls: the function rejects its input or fails


def test_wrong_dtype_checked_by_the_kernel(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.add_one_f32)
    message = call_error(lambda: ffi(name, jnp.arange(3, dtype=jnp.int32)))
    assert name in message and "x must have dtype code" in message


@pytest.mark.parametrize("shape", [(4,), (3, 1)], ids=["length", "rank"])
def test_wrong_shape_checked_by_the_kernel(
    kernels: tvm_ffi.Module, register, shape: tuple[int, ...]
) -> None:
    name = register(kernels.add_one_f32)
    message = call_error(lambda: jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(shape, X.dtype))(X))
    assert name in message and "Check failed" in message


def test_packed_fp4_with_odd_rows_is_refused(register) -> None:
    name = register(lambda x, y: None)
    x = jnp.zeros((2, 3), ml_dtypes.float4_e2m1fn)
    message = call_error(lambda: ffi(name, x))
    assert name in message and "odd last dimension" in message


def test_kernel_throwing(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.throw_value_error)
    message = call_error(lambda: ffi(name))
    assert message.startswith("INVALID_ARGUMENT: ")
    assert name in message and "ValueError: kernel rejected input of rank 1" in message


def test_python_callback_writing_the_wrong_shape(register) -> None:
    def write_five(x: Any, y: Any) -> None:
        np.from_dlpack(y)[...] = np.zeros(5)

    name = register(write_five)
    message = call_error(lambda: ffi(name))
    assert name in message and "ValueError" in message and "broadcast" in message


class PlainError(Exception):
    pass


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ failed")


RAISED = [
    ValueError("bad value 11"),
    TypeError("bad type 12"),
    KeyError("missing key 13"),
    IndexError("bad index 14"),
    AttributeError("no attribute 15"),
    RuntimeError("failed 16"),
    NotImplementedError("not done 17"),
    ZeroDivisionError("divided 18"),
    AssertionError("asserted 19"),
    OverflowError("overflowed 20"),
    StopIteration("stopped 21"),
    PlainError("plain 22"),
]


@pytest.mark.parametrize("exception", RAISED, ids=[type(e).__name__ for e in RAISED])
def test_python_callback_raising_keeps_the_exception_name(register, exception: Exception) -> None:
    def fail(x: Any, y: Any) -> None:
        raise exception

    name = register(fail)
    detail = after_target(call_error(lambda: jax.jit(lambda v: ffi(name, v))(X)), name)
    assert f"{type(exception).__name__}: {exception}" in detail


def test_python_callback_raising_an_unprintable_exception(register) -> None:
    def fail(x: Any, y: Any) -> None:
        raise UnprintableError

    name = register(fail)
    assert "UnprintableError" in after_target(call_error(lambda: ffi(name)), name)


@pytest.mark.parametrize(
    "value", [1, "text", 2.5, [1], None], ids=["int", "str", "float", "list", "None"]
)
def test_python_callback_returning_a_value(register, value: Any) -> None:
    def returns(x: Any, y: Any) -> Any:
        np.from_dlpack(y)[...] = 0
        return value

    name = register(returns)
    if value is None:
        np.testing.assert_array_equal(ffi(name), np.zeros(3, np.float32))
        return
    message = call_error(lambda: ffi(name))
    assert name in message and "returned a value" in message


def test_python_callback_returning_its_output_tensor(register) -> None:
    name = register(lambda x, y: y)
    detail = after_target(call_error(lambda: ffi(name)), name)
    assert "kept a reference to owned tensor(s) result 0" in detail


def test_python_callback_calling_its_own_target(register) -> None:
    names: list[str] = []

    def recurse(x: Any, y: Any) -> None:
        np.from_dlpack(y)[...] = np.asarray(ffi(names[0], jnp.asarray(np.from_dlpack(x).copy())))

    names.append(register(recurse))
    message = call_error(lambda: ffi(names[0]))
    assert names[0] in message and "Recursive" in message


# ---------------------------------------------------------------------------------------------
# Calls: the target


def test_target_never_registered() -> None:
    message = call_error(lambda: ffi("jax_tvm_ffi_test.never.registered"))
    assert "jax_tvm_ffi_test.never.registered" in message and "No FFI handler" in message


def test_target_registered_for_another_platform(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.add_one_f32, platform="gpu")
    message = call_error(lambda: ffi(name))
    assert name in message and "No FFI handler" in message and "Host" in message


# ---------------------------------------------------------------------------------------------
# Failing calls in every JAX context


def in_context(context: str, call: Callable[[jax.Array], jax.Array]) -> Callable[[], Any]:
    """Runs ``call`` on X in ``context``; returns a thunk giving the (materialised) result."""
    if context == "eager":
        return lambda: call(X)
    if context == "jit":
        return lambda: jax.jit(call)(X)
    if context == "vmap":
        return lambda: jax.vmap(call)(jnp.stack([X, X]))
    if context == "scan":
        return lambda: jax.lax.scan(lambda c, _: (call(c), None), X, None, length=3)[0]
    if context == "while_loop":
        return lambda: jax.lax.while_loop(lambda v: v[0] < 10, call, X)
    assert context == "donated"
    return lambda: jax.jit(call, donate_argnums=0)(jnp.array(X))


CONTEXTS = ["eager", "jit", "vmap", "scan", "while_loop", "donated"]


@pytest.mark.parametrize("context", CONTEXTS)
def test_kernel_failure_in_context(kernels: tvm_ffi.Module, register, context: str) -> None:
    name = register(kernels.throw_value_error)

    def call(x: jax.Array) -> jax.Array:
        return jax.ffi.ffi_call(
            name, jax.ShapeDtypeStruct(x.shape, x.dtype), vmap_method="broadcast_all"
        )(x)

    message = call_error(in_context(context, call))
    assert name in message and "kernel rejected input" in message


@pytest.mark.parametrize("context", CONTEXTS)
def test_missing_attribute_in_context(kernels: tvm_ffi.Module, register, context: str) -> None:
    name = register(kernels.affine_attrs, ["args", "rets", "attrs.scale", "attrs.offset"])

    def call(x: jax.Array) -> jax.Array:
        return jax.ffi.ffi_call(
            name, jax.ShapeDtypeStruct(x.shape, x.dtype), vmap_method="broadcast_all"
        )(x, scale=2.0)

    message = call_error(in_context(context, call))
    assert name in message and "missing attribute 'offset'" in message
    # The process carries on: the same context works with a good call.
    good = register(kernels.add_one_f32)
    jax.block_until_ready(
        in_context(
            context,
            lambda x: jax.ffi.ffi_call(
                good, jax.ShapeDtypeStruct(x.shape, x.dtype), vmap_method="broadcast_all"
            )(x),
        )()
    )


# ---------------------------------------------------------------------------------------------
# Cases that could end the interpreter: run in a subprocess, which must exit normally.

SUBPROCESS_CASES = """
import json

class CustomBase(BaseException):
    pass

raised = {
    "SystemExit": SystemExit(3),
    "KeyboardInterrupt": KeyboardInterrupt(),
    "GeneratorExit": GeneratorExit(),
    "CustomBase": CustomBase("custom"),
}
results = {}
for kind, exception in raised.items():
    def fail(x, y, exception=exception):
        raise exception
    name = f"sub.raise.{len(results)}"
    jax_tvm_ffi.register_ffi_target(name, fail)
    try:
        jax.block_until_ready(jax.jit(lambda v: ffi(name, v))(X))
        results[kind] = (name, "no error")
    except jax.errors.JaxRuntimeError as error:
        results[kind] = (name, str(error))

kept = []
def keep(x, y):
    np.from_dlpack(y)[...] = np.from_dlpack(x) * 2
    kept.append((x, np.from_dlpack(x), y))
jax_tvm_ffi.register_ffi_target("sub.keep", keep)
try:
    jax.block_until_ready(ffi("sub.keep", jnp.arange(1000, dtype=jnp.float32)))
    results["keep"] = "no error"
except jax.errors.JaxRuntimeError as error:
    results["keep"] = str(error)
# XLA reuses its buffers; the kept objects must not see that, nor crash when written.
for i in range(20):
    jax.block_until_ready(jax.jit(lambda v: v * 3 - 1)(jnp.full((1000,), i, jnp.float32)))
tensor, array, result = kept[0]
array[:] = -1
np.from_dlpack(tensor)[:5] = 7
results["kept_sum"] = float(np.from_dlpack(tensor).sum())
results["kept_result"] = np.from_dlpack(result)[:3].tolist()
print("RESULTS" + json.dumps(results))
"""


@pytest.fixture(scope="module")
def subprocess_results(kernels: tvm_ffi.Module) -> dict[str, Any]:
    result = run_python(SUBPROCESS_CASES)
    assert_exited(result, 0)
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULTS"))
    return json.loads(line[len("RESULTS") :])


@pytest.mark.parametrize("kind", ["SystemExit", "KeyboardInterrupt", "GeneratorExit", "CustomBase"])
def test_callback_raising_a_base_exception(subprocess_results: dict[str, Any], kind: str) -> None:
    name, message = subprocess_results[kind]
    assert f"jax_tvm_ffi target '{name}': " in message
    assert f"{kind}" in message.split(name)[1], message


def test_kept_tensor_touched_later(subprocess_results: dict[str, Any]) -> None:
    message = subprocess_results["keep"]
    assert "sub.keep" in message and "kept a reference" in message
    # The kept result fails the call; the kept input, a private copy on CPU, does not.
    assert "result 0" in message and "argument 0" not in message
    assert subprocess_results["kept_sum"] == -995.0 + 7 * 5
    assert subprocess_results["kept_result"] == [0.0, 2.0, 4.0]


# ---------------------------------------------------------------------------------------------
# Buffers named by index ("args.<i>", "rets.<i>"): counts that do not fit the spec, at a call.
# (spec, number of inputs, number of outputs, text the error must contain after the target)
BUFFER_COUNT_CASES = {
    "input index past the count": (["args.2", "rets"], 2, 1, 'item "args.2" names input 2, but'),
    "optional input, no inputs": (["args.0?", "rets"], 0, 1, "but the call has 0 inputs"),
    "output index past the count": (["args", "rets.1", "rets"], 1, 1, "the call has 1 output"),
    "unpassed input": (["args.0", "rets"], 2, 1, "input 1 of 2 is passed by no arg_spec item"),
    "unpassed output": (["rets.1", "args"], 1, 2, "output 0 of 2 is passed by no arg_spec item"),
    "last input": (["args.1", "args.0", "rets"], 3, 1, "input 2 of 3 is passed by no"),
}
# The whole advice of one message, checked once.
UNPASSED_ADVICE = 'name it ("args.1") or pass the rest with "args"'


def buffer_count_call(name: str, num_args: int, num_rets: int) -> Callable[[jax.Array], Any]:
    """A call of ``name`` on ``num_args`` copies of x with ``num_rets`` results like x; it returns
    the first result (x itself when there are none), so it fits every context."""

    def call(x: jax.Array) -> jax.Array:
        results = jax.ffi.ffi_call(
            name,
            [jax.ShapeDtypeStruct(x.shape, x.dtype)] * num_rets,
            vmap_method="broadcast_all",
            has_side_effect=num_rets == 0,
        )(*[x] * num_args)
        return results[0] if num_rets else x

    return call


@pytest.mark.parametrize("owned", [False, True], ids=["views", "owned"])
@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(
    ("spec", "num_args", "num_rets", "text"),
    BUFFER_COUNT_CASES.values(),
    ids=BUFFER_COUNT_CASES.keys(),
)
def test_buffer_counts_that_do_not_fit_the_spec(
    kernels: tvm_ffi.Module,
    register,
    context: str,
    owned: bool,
    spec: list[str],
    num_args: int,
    num_rets: int,
    text: str,
) -> None:
    # The kernel is never reached: the call fails first, naming the target and the item.
    name = register(kernels.throw_value_error, spec, pass_owned_tensor=owned)
    message = call_error(in_context(context, buffer_count_call(name, num_args, num_rets)))
    assert text in after_target(message, name), message
    assert "kernel rejected" not in message


@pytest.mark.parametrize(
    ("spec", "num_args", "num_rets", "text"),
    BUFFER_COUNT_CASES.values(),
    ids=BUFFER_COUNT_CASES.keys(),
)
def test_buffer_counts_through_ffi_function(
    spec: list[str], num_args: int, num_rets: int, text: str
) -> None:
    f = jax_tvm_ffi.ffi_function(
        lambda *values: None,
        [jax.ShapeDtypeStruct(X.shape, X.dtype)] * num_rets,
        arg_spec=spec,
        has_side_effect=True,
    )
    message = call_error(lambda: jax.jit(f)(*[X] * num_args))
    assert text in after_target(message, f.target_name), message


def test_buffer_count_error_then_a_fitting_call(kernels: tvm_ffi.Module, register) -> None:
    # The count is checked per call: the same target works once the call fits.
    name = register(kernels.add_one_f32, ["args.0", "rets.0"])
    two_inputs = buffer_count_call(name, 2, 1)
    first = call_error(lambda: jax.jit(two_inputs)(X))
    assert "input 1 of 2" in first and UNPASSED_ADVICE in first, first
    np.testing.assert_array_equal(jax.jit(buffer_count_call(name, 1, 1))(X), X + 1)
    assert "input 1 of 2" in call_error(lambda: two_inputs(X))


def test_workspace_is_not_an_output_an_index_can_name() -> None:
    # The workspace result (workspace_bytes) is not passed to the function, so "rets.1" of a
    # one-result call is past the count, not the workspace.
    f = jax_tvm_ffi.ffi_function(
        lambda x, y: None,
        jax.ShapeDtypeStruct(X.shape, X.dtype),
        arg_spec=["args", "rets.1"],
        workspace_bytes=64,
    )
    message = call_error(lambda: f(X))
    assert 'item "rets.1" names output 1, but the call has 1 output' in message


def test_spec_without_rets_passes_no_output(register) -> None:
    # Only lists a spec names buffers of are checked: without "rets" or "rets.<i>" the outputs
    # are not passed, as before.
    received: list[int] = []
    name = register(lambda *values: received.append(len(values)), ["args.1", "args.0"])
    jax.block_until_ready(buffer_count_call(name, 2, 1)(X))
    assert received == [2]


def test_none_for_two_optional_parameters(register) -> None:
    received: list[list[Any]] = []
    name = register(lambda *values: received.append(list(values)), ["none", "args.0", "none"])
    jax.block_until_ready(buffer_count_call(name, 1, 0)(X))
    assert len(received) == 1 and received[0][0] is None and received[0][2] is None


def test_count_error_names_the_optional_item_as_written(register) -> None:
    name = register(lambda *values: None, ["args.0?", "rets"])
    message = call_error(lambda: buffer_count_call(name, 0, 1)(X))
    assert 'item "args.0?" names input 0' in message, message


BUFFER_COUNT_SUBPROCESS = """
import json
results = {}
cases = [(["args.5", "rets"], 2, 1), (["args", "rets.7"], 1, 2), (["args.0", "rets"], 3, 1),
         (["rets.0", "args.1048576"], 1, 1)]
for owned in (False, True):
    for i, (spec, num_args, num_rets) in enumerate(cases):
        name = f"sub.count.{owned}.{i}"
        jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32, spec, pass_owned_tensor=owned)
        call = jax.jit(lambda x, name=name, n=num_args, r=num_rets: jax.ffi.ffi_call(
            name, [jax.ShapeDtypeStruct(x.shape, x.dtype)] * r)(*[x] * n))
        messages = set()
        for _ in range(50):  # a read past XLA's buffer arrays would show as a crash or garbage
            try:
                jax.block_until_ready(call(X))
                messages.add("no error")
            except jax.errors.JaxRuntimeError as error:
                messages.add(str(error))
        results[name] = sorted(messages)
print("RESULTS" + json.dumps(results))
"""


def test_buffer_counts_that_do_not_fit_in_a_subprocess(kernels: tvm_ffi.Module) -> None:
    result = run_python(BUFFER_COUNT_SUBPROCESS)
    assert_exited(result, 0)
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULTS"))
    results = json.loads(line[len("RESULTS") :])
    assert len(results) == 8
    for name, messages in results.items():
        assert len(messages) == 1, messages  # the same error every time
        detail = after_target(messages[0], name)
        assert "passed by no arg_spec item" in detail or "but the call has" in detail, detail
