"""Signature checks at trace time, for functions that describe themselves.

A TVM FFI function may carry its type schema: C++ global functions registered with reflection
(``refl::GlobalDef().def``) always do, and functions a compiled module exports with
``TVM_FFI_DLL_EXPORT_TYPED_FUNC`` do when the module is built with
``-DTVM_FFI_DLL_EXPORT_INCLUDE_METADATA=1``. The schema is JSON,
``{"type": "ffi.Function", "named_args": {"return": [...], "params": [...]}}`` with one entry
per parameter (``{"type": "DLTensor*"}``, ``{"type": "Optional", "args": [...]}``, ...): types
only, no parameter names, so parameters are named by their index.

With a schema, ``ffi_function`` checks each call while JAX traces it, before XLA compiles
anything: what the arg spec passes must match the parameters in number and kind. Without one,
nothing is checked. A mismatch that tvm-ffi would convert at the call (an int for a float
parameter, a bool for an int) is accepted, as the function itself accepts it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import tvm_ffi

from jax_tvm_ffi._core import core

# The kinds of values a call passes, and that parameters take.
TENSOR = "tensor"  # a borrowed DLTensor* view of a buffer
OWNED_TENSOR = "owned tensor"  # a tvm::ffi::Tensor (pass_owned_tensor=True)
OPTIONAL_TENSOR = "optional tensor"  # a buffer, or None when it has zero elements
NONE = "None"
INT = "int"
FLOAT = "float"
BOOL = "bool"
STRING = "string"
ARRAY = "array"
MAP = "map"

# Schema type keys (tvm/ffi/type_traits.h StaticTypeKey, tvm/ffi/extra/stl.h) -> the kinds a
# parameter of that type takes, with the conversions tvm-ffi makes at the call (an int or bool
# for a float, an int for a bool, a List for an Array, a Dict for a Map, an Array for a Shape).
_PARAMETER_KINDS: dict[str, frozenset[str]] = {
    "DLTensor*": frozenset({TENSOR, OWNED_TENSOR}),
    "ffi.Tensor": frozenset({OWNED_TENSOR}),
    "None": frozenset({NONE}),
    "int": frozenset({INT, BOOL}),
    "float": frozenset({FLOAT, INT, BOOL}),
    "bool": frozenset({BOOL, INT}),
    "ffi.String": frozenset({STRING}),
    "std::string": frozenset({STRING}),
    "const char*": frozenset({STRING}),
    "ffi.Array": frozenset({ARRAY}),
    "ffi.List": frozenset({ARRAY}),
    "ffi.Shape": frozenset({ARRAY}),
    "std::vector": frozenset({ARRAY}),
    "ffi.Map": frozenset({MAP}),
    "ffi.Dict": frozenset({MAP}),
    "std::map": frozenset({MAP}),
    "std::unordered_map": frozenset({MAP}),
}
_OPTIONAL = ("Optional", "std::optional")
_UNION = ("Variant", "std::variant")

_INDEXED_BUFFER = re.compile(r"(args|rets)\.(\d+)(\?)?")
_DEFAULT_SPEC = ("args", "rets")


@dataclass(frozen=True)
class Given:
    """One value a call passes: what the message calls it, and its kind."""

    what: str
    kind: str


@dataclass(frozen=True)
class Parameter:
    """One parameter of the signature: its type as written, and the kinds it takes (None: any)."""

    text: str
    kinds: frozenset[str] | None


def attribute_kind(value: Any) -> str | None:
    """The kind of the value the core passes for an attribute value, or None if unknown."""
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    if isinstance(value, (int, np.integer)):
        return INT
    if isinstance(value, (float, np.floating)):
        return FLOAT
    if isinstance(value, (str, bytes)):
        return STRING
    if isinstance(value, Mapping):
        return MAP
    if isinstance(value, (np.ndarray, tuple, list)):
        return ARRAY
    return None


def given_by_item(
    item: str,
    attrs: Mapping[str, Any],
    free_inputs: Sequence[int],
    free_outputs: Sequence[int],
    tensor: str = TENSOR,
) -> list[Given] | None:
    """What one arg-spec item passes: one ``Given`` per parameter it fills.

    Args:
      item: the arg-spec item.
      attrs: the call's attributes.
      free_inputs, free_outputs: the buffers ``"args"`` / ``"rets"`` pass (those not named by
        index), in order.
      tensor: the kind a buffer is passed as (``OWNED_TENSOR`` with ``pass_owned_tensor``).

    Returns:
      The values, or None for an item this check does not know (then nothing is checked).
    """
    if item == "args":
        return [Given(f'input {i} (from "args")', tensor) for i in free_inputs]
    if item == "rets":
        return [Given(f'output {i} (from "rets")', tensor) for i in free_outputs]
    indexed = _INDEXED_BUFFER.fullmatch(item)
    if indexed:
        which = "input" if indexed[1] == "args" else "output"
        kind = OPTIONAL_TENSOR if indexed[3] else tensor
        return [Given(f'{which} {int(indexed[2])} (from "{item}")', kind)]
    if item == "none":
        return [Given('None (from "none")', NONE)]
    if item.startswith("attrs."):
        name = item[len("attrs.") :]
        if name not in attrs:
            return None
        value = attrs[name]
        kind = attribute_kind(value)
        return None if kind is None else [Given(f"attribute '{name}' = {value!r}", kind)]
    if item in ("ctx.stream", "ctx.device_id"):
        return [Given(f'"{item}"', INT)]
    return None


def _schema_text(schema: Mapping[str, Any]) -> str:
    args = schema.get("args") or ()
    inner = ", ".join(_schema_text(arg) for arg in args)
    return f"{schema.get('type')}<{inner}>" if args else str(schema.get("type"))


def _parameter_kinds(schema: Mapping[str, Any]) -> frozenset[str] | None:
    origin = schema.get("type")
    args = schema.get("args") or ()
    if origin in _OPTIONAL and len(args) == 1:
        inner = _parameter_kinds(args[0])
        return None if inner is None else inner | {NONE}
    if origin in _UNION and args:
        alternatives = [_parameter_kinds(arg) for arg in args]
        if any(kinds is None for kinds in alternatives):
            return None
        return frozenset().union(*alternatives)
    return _PARAMETER_KINDS.get(origin)  # other types (Any, objects, ...) are not checked


def parse_signature(type_schema: str) -> list[Parameter] | None:
    """The parameters of a function's ``type_schema`` JSON, or None when it lists none.

    A packed function (``def_packed``) has a schema without parameters: it takes anything.
    """
    schema = json.loads(type_schema)
    if not isinstance(schema, Mapping):
        return None
    named = schema.get("named_args")
    params = named.get("params") if isinstance(named, Mapping) else None
    if params is None and schema.get("type") == "ffi.Function":
        # Older apache-tvm-ffi (0.1.8): "args" lists the return type, then the parameters.
        listed = schema.get("args")
        params = listed[1:] if isinstance(listed, list) and listed else None
    if not isinstance(params, list):
        return None
    return [Parameter(_schema_text(p), _parameter_kinds(p)) for p in params]


def _type_schema(function: Any) -> str | None:
    """The function's type schema JSON, from tvm-ffi's metadata, or None when it has none."""
    if isinstance(function, str):
        metadata = tvm_ffi.get_global_func_metadata(function)
    elif isinstance(function, tvm_ffi.Function):
        text = str(core().function_metadata(function))
        metadata = json.loads(text) if text else None
    else:
        return None  # a Python callable describes nothing
    schema = metadata.get("type_schema") if isinstance(metadata, Mapping) else None
    return schema if isinstance(schema, str) else None


def signature_of(function: Any) -> list[Parameter] | None:
    """The parameters ``function`` declares in its metadata, or None when it declares none.

    Metadata that cannot be read or parsed counts as none: such a function works as before.
    """
    try:
        schema = _type_schema(function)
        return None if schema is None else parse_signature(schema)
    except Exception:  # noqa: BLE001 - no readable metadata: nothing to check against
        return None


def _free_buffers(spec: Sequence[str], count: int, prefix: str) -> list[int] | None:
    """The buffers ``"args"``/``"rets"`` pass: those no item names by index (None: invalid)."""
    named = [
        int(m[2])
        for m in (_INDEXED_BUFFER.fullmatch(item) for item in spec)
        if m and m[1] == prefix
    ]
    if len(set(named)) != len(named) or any(i >= count for i in named):
        return None  # the core reports an index past the count or a buffer named twice
    return [i for i in range(count) if i not in named]


def _buffer_text(value: Any) -> str:
    try:
        return jax.typeof(value).str_short()
    except Exception:  # noqa: BLE001 - only for the message
        return type(value).__name__


def _given_text(given: Given, inputs: Sequence[Any], outputs: Sequence[Any]) -> str:
    indexed = re.match(r"(input|output) (\d+)", given.what)
    if indexed:
        buffers = inputs if indexed[1] == "input" else outputs
        shape = _buffer_text(buffers[int(indexed[2])])
        return f"{given.what}, {shape}, passed as {_KIND_TEXT[given.kind]}"
    return f"{given.what}, passed as {_KIND_TEXT[given.kind]}"


_KIND_TEXT = {
    TENSOR: "a tensor (DLTensor* view)",
    OWNED_TENSOR: "an owned tensor",
    OPTIONAL_TENSOR: "an optional tensor (None when it has zero elements)",
    NONE: "None",
    INT: "an int",
    FLOAT: "a float",
    BOOL: "a bool",
    STRING: "a string",
    ARRAY: "an array",
    MAP: "a map",
}


def _accepts(kinds: frozenset[str] | None, given: str) -> bool:
    if kinds is None:
        return True
    if given == OPTIONAL_TENSOR:
        return NONE in kinds and bool(kinds & {TENSOR, OWNED_TENSOR})
    return given in kinds


class SignatureCheck:
    """Checks calls of one ``ffi_function`` against its function's signature, if it has one."""

    def __init__(
        self, where: str, function: Any, arg_spec: Sequence[str] | None, *, owned: bool
    ) -> None:
        self._where = where
        self._function = function
        self._spec = tuple(_DEFAULT_SPEC if arg_spec is None else arg_spec)
        self._tensor = OWNED_TENSOR if owned else TENSOR
        self._parameters: list[Parameter] | None = None
        self._looked_up = False
        # What decides the outcome (buffer counts, attribute kinds) of calls that passed.
        self._passed: set[tuple[Any, ...]] = set()

    def __call__(self, inputs: Sequence[Any], outputs: Sequence[Any], attrs: Mapping[str, Any]):
        """Raises TypeError when the call does not match the signature; does nothing without one.

        Args:
          inputs: the call's input arrays (or tracers).
          outputs: what the function receives as outputs (shape-dtype structs).
          attrs: the call's attributes.
        """
        if not self._looked_up:
            self._parameters = signature_of(self._function)
            self._looked_up = True
        if self._parameters is None:
            return
        key = (len(inputs), len(outputs), *sorted((k, attribute_kind(v)) for k, v in attrs.items()))
        if key in self._passed:
            return
        given = self._given(attrs, len(inputs), len(outputs))
        if given is not None:
            self._compare(given, inputs, outputs)
        self._passed.add(key)

    def _given(self, attrs: Mapping[str, Any], num_inputs: int, num_outputs: int):
        free_inputs = _free_buffers(self._spec, num_inputs, "args")
        free_outputs = _free_buffers(self._spec, num_outputs, "rets")
        if free_inputs is None or free_outputs is None:
            return None
        given: list[Given] = []
        for item in self._spec:
            values = given_by_item(item, attrs, free_inputs, free_outputs, self._tensor)
            if values is None:
                return None
            given.extend(values)
        return given

    def _compare(self, given: list[Given], inputs: Sequence[Any], outputs: Sequence[Any]):
        parameters = self._parameters or []
        prefix = (
            f"{self._where}: the call does not match the function's signature "
            f"({', '.join(p.text for p in parameters)}), read from its type metadata"
        )
        if len(given) != len(parameters):
            passed = "; ".join(_given_text(g, inputs, outputs) for g in given) or "nothing"
            raise TypeError(
                f"{prefix}: the function takes {len(parameters)} parameter(s), but arg_spec "
                f"{list(self._spec)} passes {len(given)}: {passed}"
            )
        for index, (parameter, value) in enumerate(zip(parameters, given, strict=True)):
            if not _accepts(parameter.kinds, value.kind):
                raise TypeError(
                    f"{prefix}: parameter {index} ({parameter.text}) is given "
                    f"{_given_text(value, inputs, outputs)}{_hint(parameter, value)}"
                )


def _hint(parameter: Parameter, given: Given) -> str:
    """How to fix the two mismatches that have one fix."""
    if given.kind == TENSOR and parameter.kinds == {OWNED_TENSOR}:
        return " (pass_owned_tensor=True passes owned tensors; or take a TensorView)"
    if given.kind == OPTIONAL_TENSOR and parameter.kinds and TENSOR in parameter.kinds:
        return " (the parameter cannot take None: name the buffer without '?')"
    return ""
