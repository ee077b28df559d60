"""``ffi_function``: a TVM FFI function as a JAX-callable in one line.

``register_ffi_target`` plus ``jax.ffi.ffi_call`` need a target name, a registration and the
result shapes spelled out at every call site. ``ffi_function`` does all three: it names the
target (or takes the name given), registers it once per platform, and derives the result shapes
from a ``jax.ShapeDtypeStruct`` pytree or from a function of the inputs' shapes.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import tvm_ffi

from jax_tvm_ffi._batch_partitioning import mark_batch_partitionable
from jax_tvm_ffi._core import core
from jax_tvm_ffi._embed import (
    PAYLOAD_PREFIX,
    EmbeddedLibrary,
    embedded_library,
    embedded_target,
    payload_attributes,
)
from jax_tvm_ffi._layouts import OperandLayouts, parse_layouts
from jax_tvm_ffi._registration import REGISTRY, Registration, make_registration
from jax_tvm_ffi._signature import SignatureCheck
from jax_tvm_ffi._validators import (
    PLATFORMS,
    FunctionLike,
    check_flag,
    check_name,
    check_platform,
    describe,
    is_python_callable,
)

# A pytree whose leaves have ``shape`` and ``dtype`` (usually ``jax.ShapeDtypeStruct``), or a
# function from the inputs' ``jax.ShapeDtypeStruct``s and the call's attributes to one.
ResultShapes = Any | Callable[..., Any]
# A workspace size in bytes, or a function from the inputs' shapes and the attributes to one.
WorkspaceBytes = int | Callable[..., int] | None

_INT64 = (-(2**63), 2**63 - 1)


def _name_stem(function: FunctionLike) -> str:
    """The function's own name, for generated target names."""
    if isinstance(function, str):
        stem = function
    elif isinstance(function, tvm_ffi.Function):
        # The symbol a compiled module exports the function under (`__tvm_ffi_<name>`), if any.
        stem = str(core().function_symbol_name(function)) or "function"
    else:
        stem = getattr(function, "__name__", None) or type(function).__name__
    return re.sub(r"[^A-Za-z0-9_.]", "_", stem).strip("._") or "function"


def _check_vmap_method(where: str, vmap_method: Any) -> None:
    """Lets JAX judge the method, so that methods a newer JAX adds are accepted."""
    try:
        jax.ffi.ffi_call(
            "jax_tvm_ffi.vmap_method_check",
            jax.ShapeDtypeStruct((), np.float32),
            vmap_method=vmap_method,
        )
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _device_platform(device: Any) -> str:
    platform = str(getattr(device, "platform", device)).lower()
    if platform == "gpu":
        version = str(getattr(getattr(device, "client", None), "platform_version", "")).lower()
        return "rocm" if "rocm" in version else "cuda"
    if platform not in PLATFORMS:
        raise ValueError(
            f"ffi_function: the platform of the inputs (or of JAX's default device) is "
            f"{platform!r}, which jax_tvm_ffi does not support; it supports 'cpu', 'cuda' and "
            "'rocm' (pass platform= to choose one)"
        )
    return PLATFORMS[platform]


def _platform_of_inputs(args: Sequence[Any]) -> str:
    """The platform of the first concrete ``jax.Array`` input, else JAX's default device's."""
    for arg in args:
        if isinstance(arg, jax.Array) and not isinstance(arg, jax.core.Tracer):
            devices = arg.devices()
            if devices:
                return _device_platform(next(iter(devices)))
    default = jax.config.jax_default_device
    if default is not None:
        return _device_platform(default)
    return _device_platform(jax.devices()[0])


def _check_result_leaves(leaves: Sequence[Any], what: str) -> None:
    for leaf in leaves:
        if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
            raise TypeError(
                f"{what} must be a jax.ShapeDtypeStruct or a pytree of them (any object with "
                f".shape and .dtype), but contains {describe(leaf)}"
            )


def _input_shape(arg: Any) -> jax.ShapeDtypeStruct:
    aval = jax.typeof(arg)
    return jax.ShapeDtypeStruct(aval.shape, aval.dtype)


# jax before 0.9.1 lowers a bool array attribute as its bit-packed bytes under the array's own
# shape, which MLIR reads as one repeated byte: [True, False, True] reaches the kernel as
# [5, 5, 5]. Newer jax lowers it as i1, which XLA refuses with an error of its own.
_PACKS_BOOL_ARRAYS = jax.__version_info__ < (0, 9, 1)


def _check_attribute(where: str, key: str, value: Any) -> None:
    """Refuses a value JAX cannot lower as an attribute, or lowers wrong, naming it."""
    problem = None
    if isinstance(value, Mapping):
        for inner_key, inner in value.items():
            _check_attribute(where, f"{key}.{inner_key}", inner)
        return
    if isinstance(value, (bool, np.bool_, float, str, bytes, np.floating)):
        return
    if isinstance(value, (int, np.integer)):
        # JAX lowers a Python int as int64 and reads a NumPy uint64 through int64 too (a value
        # above 2^63 - 1 dies in the lowering with a bare std::bad_cast).
        wide = isinstance(value, int) or value.dtype == np.uint64
        if wide and not _INT64[0] <= int(value) <= _INT64[1]:
            problem = (
                f"is {int(value)}, outside the signed 64-bit range JAX lowers it in "
                f"([{_INT64[0]}, {_INT64[1]}])"
            )
    elif isinstance(value, (complex, np.complexfloating)):
        problem = (
            "is a complex number, which JAX cannot pass as an attribute (pass its real and "
            "imaginary parts)"
        )
    elif isinstance(value, np.ndarray):
        if value.dtype.kind == "c":
            problem = "is a complex array, which JAX cannot pass as an attribute"
        elif _PACKS_BOOL_ARRAYS and value.dtype == np.bool_:
            problem = (
                f"is a bool array, which jax {jax.__version__} passes corrupted (bit-packed); "
                "pass it as value.astype(np.uint8), or use jax >= 0.9.1"
            )
    elif isinstance(value, tuple):
        return  # lowered as an array by JAX, which says itself what it cannot take
    elif isinstance(value, jax.core.Tracer):
        problem = (
            "is a traced value; attributes are compiled into the call, so they must be static "
            "Python or NumPy values: pass them inside the jitted function, or mark them static "
            f"(jax.jit(f, static_argnames='{key}'))"
        )
    else:
        problem = (
            f"is {describe(value)}; attributes are bool, int, float, str, NumPy scalars and "
            "arrays, tuples of numbers, and dicts of those"
        )
    if problem is not None:
        raise TypeError(f"{where}: attribute '{key}' {problem}")


class FfiFunction:
    """A TVM FFI function bound to an XLA FFI target; made by :func:`ffi_function`.

    Call it like a JAX function: ``f(*arrays, **attributes)``. It works eagerly and under
    ``jax.jit``, ``vmap``, ``scan``, ``shard_map``, ``jax.export`` and the other
    transformations that ``jax.ffi.ffi_call`` supports.
    """

    def __init__(
        self,
        registration: Registration,
        result_shape_dtypes: ResultShapes,
        *,
        platform: str | None,
        vmap_method: str | None,
        input_output_aliases: dict[int, int] | None,
        has_side_effect: bool,
        workspace_bytes: WorkspaceBytes,
        input_layouts: OperandLayouts | None = None,
        output_layouts: OperandLayouts | None = None,
        embedded: EmbeddedLibrary | None = None,
    ) -> None:
        self._registration = registration
        self._embedded = embedded
        # platform -> the payload attributes of an embedded call there (built once per platform).
        self._payloads: dict[str, dict[str, Any]] = {}
        self._results = result_shape_dtypes
        self._platform = platform
        self._vmap_method = vmap_method
        self._aliases = input_output_aliases
        self._has_side_effect = has_side_effect
        self._workspace_bytes = workspace_bytes
        self._input_layouts = input_layouts
        self._output_layouts = output_layouts
        arg_spec = registration.arg_spec
        self._attr_names = (
            None
            if arg_spec is None
            else frozenset(item[len("attrs.") :] for item in arg_spec if item.startswith("attrs."))
        )
        self._where = f"ffi_function('{registration.name}')"
        self._check_signature = SignatureCheck(
            self._where,
            registration.function,
            arg_spec,
            owned=registration.pass_owned_tensor,
        )
        self.__name__ = registration.name
        self.__qualname__ = registration.name
        self.__doc__ = getattr(registration.function, "__doc__", None) or FfiFunction.__doc__

    @property
    def target_name(self) -> str:
        """The XLA FFI target name this function calls (for ``DisabledSafetyCheck``, HLO).

        For an embedded function, one of :func:`embedded_targets`; its own name is ``__name__``.
        """
        if self._embedded is not None:
            return embedded_target(self._registration)
        return self._registration.name

    @property
    def embedded(self) -> bool:
        """Whether the function's library travels inside the program (``embed=True``)."""
        return self._embedded is not None

    @property
    def platform(self) -> str | None:
        """The platform given to :func:`ffi_function`, or ``None`` (the inputs' platform)."""
        return self._platform

    def register(self, platform: str | None = None) -> str:
        """Registers the target on ``platform`` now, if it is not registered there yet.

        Calling the function registers it by itself. Call ``register`` where XLA needs the
        target before anything calls the function: before running a deserialized
        ``jax.export`` artifact that uses it, in the process that loads the artifact.

        Args:
          platform: ``"cpu"``, ``"gpu"``/``"cuda"`` or ``"rocm"``; default: the platform given
            to :func:`ffi_function`, else that of JAX's default device.

        An embedded function needs no registration (``import jax_tvm_ffi`` registers the
        targets it calls): ``register`` only checks ``platform``.

        Returns:
          The target name.
        """
        if platform is None:
            platform = self._platform or _platform_of_inputs(())
        else:
            platform = check_platform(f"{self._where}.register", platform)
        if self._embedded is None:
            REGISTRY.ensure(self.target_name, platform)
        return self.target_name

    def _check_attributes(self, attrs: Mapping[str, Any]) -> None:
        for key, value in attrs.items():
            if self._embedded is not None and key.startswith(PAYLOAD_PREFIX):
                raise TypeError(
                    f"{self._where}: attribute '{key}': names that start with "
                    f"'{PAYLOAD_PREFIX}' belong to the embedded kernel's payload"
                )
            _check_attribute(self._where, key, value)
        if self._attr_names is None:
            return
        missing = sorted(self._attr_names - attrs.keys())
        unexpected = sorted(attrs.keys() - self._attr_names)
        if missing or unexpected:
            problems = []
            if missing:
                problems.append("missing " + ", ".join(missing))
            if unexpected:
                problems.append("unexpected " + ", ".join(unexpected))
            raise TypeError(
                f"{self._where}: attributes do not match arg_spec "
                f"{list(self._registration.arg_spec or ())}: " + "; ".join(problems)
            )

    def _call_user_function(
        self, what: str, function: Callable[..., Any], args: Sequence[Any], attrs: Mapping[str, Any]
    ) -> Any:
        """Calls a shape or size function; its errors say which target and inputs they are about."""
        shapes = [_input_shape(arg) for arg in args]
        try:
            return function(*shapes, **attrs)
        except Exception as error:
            given = ", ".join(f"{s.dtype}{list(s.shape)}" for s in shapes)
            given += "".join(f", {k}={v!r}" for k, v in attrs.items())
            message = (
                f"{self._where}: the {what} function failed when called with ({given}): "
                f"{type(error).__name__}: {error}"
            )
            try:
                wrapped = type(error)(message)
            except Exception:  # noqa: BLE001 - a class that takes other arguments
                wrapped = RuntimeError(message)
            raise wrapped from error

    def _result_shapes(self, args: Sequence[Any], attrs: Mapping[str, Any]) -> Any:
        if not callable(self._results):
            return self._results
        shapes = self._call_user_function("result_shape_dtypes", self._results, args, attrs)
        _check_result_leaves(
            jax.tree.leaves(shapes),
            f"{self._where}: the result_shape_dtypes function's result",
        )
        return shapes

    def _workspace(self, args: Sequence[Any], attrs: Mapping[str, Any]) -> jax.ShapeDtypeStruct:
        size = self._workspace_bytes
        if callable(size):
            size = self._call_user_function("workspace_bytes", size, args, attrs)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise TypeError(
                f"{self._where}: workspace_bytes must give a non-negative int, got {describe(size)}"
            )
        return jax.ShapeDtypeStruct((int(size),), np.uint8)

    def __call__(self, *args: Any, **attrs: Any) -> Any:
        """Calls the target on ``args`` (arrays) with ``attrs`` as XLA FFI attributes."""
        self._check_attributes(attrs)
        platform = self._platform or _platform_of_inputs(args)
        self.register(platform)
        shapes = self._result_shapes(args, attrs)
        leaves, treedef = jax.tree.flatten(shapes)
        batch_partitionable = self._registration.batch_partitionable
        if batch_partitionable:
            self._check_batch_dims(args, leaves)
        self._check_signature(args, leaves, attrs)  # at trace time: before XLA compiles
        layouts = self._layouts(args, leaves)
        with_workspace = self._workspace_bytes is not None
        if with_workspace:
            leaves = [*leaves, self._workspace(args, attrs)]
        single = (
            jax.tree_util.treedef_is_leaf(treedef)
            and not batch_partitionable
            and not with_workspace
        )
        if with_workspace and "output_layouts" in layouts:
            layouts["output_layouts"].append(None)  # the workspace is a plain byte buffer
        if single and "output_layouts" in layouts:
            layouts["output_layouts"] = layouts["output_layouts"][0]
        call = jax.ffi.ffi_call(
            self.target_name,
            leaves[0] if single else leaves,
            vmap_method=self._vmap_method,
            input_output_aliases=self._aliases,
            has_side_effect=self._has_side_effect,
            **layouts,
        )
        results = call(*args, **self._call_attributes(platform, attrs))
        if single:
            return results
        results = list(results)
        if with_workspace:
            results = results[:-1]  # The workspace is scratch memory, not a result.
        if batch_partitionable:
            results = mark_batch_partitionable(results, self.target_name)
        if jax.tree_util.treedef_is_leaf(treedef):
            return results[0]
        return jax.tree.unflatten(treedef, list(results))

    def _call_attributes(self, platform: str, attrs: dict[str, Any]) -> dict[str, Any]:
        """The call's attributes; an embedded call's payload comes with them."""
        if self._embedded is None:
            return attrs
        payload = self._payloads.get(platform)
        if payload is None:
            payload = payload_attributes(self._embedded, self._registration, platform)
            self._payloads[platform] = payload
        return {**payload, **attrs}

    def _layouts(self, args: Sequence[Any], results: Sequence[Any]) -> dict[str, Any]:
        """The layouts for ``jax.ffi.ffi_call``, once the operands are checked against them."""
        layouts: dict[str, Any] = {}
        if self._input_layouts is not None:
            self._input_layouts.check(self._where, [_input_shape(arg) for arg in args])
            if self._registration.input_layouts is not None:
                layouts["input_layouts"] = self._input_layouts.for_ffi_call()
        if self._output_layouts is not None:
            self._output_layouts.check(self._where, results)
            if self._registration.output_layouts is not None:
                layouts["output_layouts"] = self._output_layouts.for_ffi_call()
        return layouts

    def _check_batch_dims(self, args: Sequence[Any], results: Sequence[Any]) -> None:
        shapes = [tuple(_input_shape(arg).shape) for arg in args]
        shapes += [tuple(leaf.shape) for leaf in results]
        if any(not shape for shape in shapes) or len({shape[0] for shape in shapes}) > 1:
            raise ValueError(
                f"{self._where}: batch_partitionable=True needs every input and result to have "
                "the same leading (batch) dimension, which the partitioner splits; got inputs "
                f"{shapes[: len(args)]} and results {shapes[len(args) :]}"
            )

    def __repr__(self) -> str:
        platform = self._platform or "inputs' platform"
        embedded = ", embedded" if self._embedded is not None else ""
        return f"<FfiFunction '{self._registration.name}' on {platform}{embedded}>"


def _check_results(result_shape_dtypes: Any) -> int | None:
    """Checks a static result spec and returns its number of results (None for a function)."""
    if callable(result_shape_dtypes) and not hasattr(result_shape_dtypes, "shape"):
        return None
    leaves = jax.tree.leaves(result_shape_dtypes)
    _check_result_leaves(leaves, "ffi_function: result_shape_dtypes")
    return len(leaves)


def _check_aliases(aliases: Any, num_results: int | None) -> dict[int, int] | None:
    if aliases is None:
        return None
    if not isinstance(aliases, Mapping):
        raise TypeError(
            "ffi_function: input_output_aliases must be a dict {input index: output index}, "
            f"got {describe(aliases)}"
        )
    checked: dict[int, int] = {}
    for i, o in aliases.items():
        for index, what in ((i, "input"), (o, "output")):
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise TypeError(
                    f"ffi_function: input_output_aliases {dict(aliases)} has {what} index "
                    f"{index!r}; indices must be non-negative ints"
                )
        if num_results is not None and o >= num_results:
            raise ValueError(
                f"ffi_function: input_output_aliases maps input {i} to output {o}, but "
                f"result_shape_dtypes describes {num_results} result(s)"
            )
        checked[i] = o
    return checked


def _check_workspace_bytes(workspace_bytes: Any) -> WorkspaceBytes:
    if workspace_bytes is None or callable(workspace_bytes):
        return workspace_bytes
    if (
        isinstance(workspace_bytes, bool)
        or not isinstance(workspace_bytes, (int, np.integer))
        or workspace_bytes < 0
    ):
        raise TypeError(
            "ffi_function: workspace_bytes must be a non-negative int or a function of the "
            f"inputs' shapes returning one, got {describe(workspace_bytes)}"
        )
    return int(workspace_bytes)


def ffi_function(
    function: FunctionLike,
    result_shape_dtypes: ResultShapes,
    *,
    name: str | None = None,
    arg_spec: Sequence[str] | None = None,
    platform: str | None = None,
    vmap_method: str | None = "sequential",
    input_output_aliases: Mapping[int, int] | None = None,
    batch_partitionable: bool = False,
    has_side_effect: bool = False,
    allow_cuda_graph: bool = False,
    pass_owned_tensor: bool = False,
    workspace_bytes: WorkspaceBytes = None,
    check: bool | str | None = None,
    input_layouts: Sequence[Any] | None = None,
    output_layouts: Any = None,
    embed: bool = False,
) -> FfiFunction:
    """Makes a JAX-callable from a TVM FFI function, registering its XLA FFI target once.

    Args:
      function: a ``tvm_ffi.Function`` (from ``tvm_ffi.cpp.load_inline``,
        ``tvm_ffi.load_module``, ...), a Python callable, or the name of a TVM FFI global
        function. It takes the inputs, then the outputs it writes (or what ``arg_spec`` says).
      result_shape_dtypes: the results: a ``jax.ShapeDtypeStruct``, a pytree of them (the call
        returns the same pytree of arrays), or a function called at trace time with one
        ``jax.ShapeDtypeStruct`` per input and the call's attributes as keyword arguments that
        returns one of those, e.g. ``lambda x, **attrs: x`` for "same as the input".
      name: the XLA FFI target name. Default: ``jax_tvm_ffi.<the function's name>`` (then
        ``.1``, ``.2`` for other functions of the same name; see ``target_name``). Give a name
        when another process must find the target: ``jax.export`` artifacts and the persistent
        compilation cache refer to targets by name. Giving a name that another function
        already uses warns, and from then on every ``FfiFunction`` of that name calls the new
        function (as re-registering with ``register_ffi_target`` does).
      arg_spec: what the function receives, as in :func:`register_ffi_target`; with attributes
        (``"attrs.<name>"``) in it, every call must pass exactly those keyword arguments.
      platform: ``"cpu"``, ``"gpu"``/``"cuda"`` or ``"rocm"``. Default ``None``: at each call,
        the platform of the first input that is a concrete ``jax.Array``; for traced inputs
        (inside ``jax.jit``) or NumPy inputs, that of JAX's default device. Given a platform,
        the target is registered now.
      vmap_method: how ``jax.vmap`` batches the call, as in ``jax.ffi.ffi_call`` (which
        checks it). Default ``"sequential"`` (a loop: right for any kernel);
        ``"broadcast_all"`` or ``"expand_dims"`` make one call on the batched arrays, for
        kernels that treat leading dimensions as a batch.
      input_output_aliases: ``{input index: output index}``: the output is written into the
        input's buffer (donate the input with ``jax.jit(..., donate_argnums=...)`` to avoid a
        copy).
      batch_partitionable: let the SPMD partitioner split the call along the leading (batch)
        dimension of sharded inputs, so each device runs it on its own shard
        (``jax.ffi.register_ffi_target_as_batch_partitionable``). Only for kernels whose rows
        are independent. It cannot be undone for the name.
      has_side_effect: keep the call even if its results are unused.
      allow_cuda_graph: as in :func:`register_ffi_target`.
      pass_owned_tensor: as in :func:`register_ffi_target`.
      workspace_bytes: give the call a workspace of this many bytes (an int, or a function of
        the inputs' ``jax.ShapeDtypeStruct``s and the attributes returning one): the
        ``use_last_output_for_alloc_workspace`` mode of :func:`register_ffi_target`, with the
        workspace added to the call's results and left out of what it returns.
      check: the checking mode, as in :func:`register_ffi_target`.
      input_layouts: the memory layout of each input, as ``jax.ffi.ffi_call`` takes it:
        ``None`` (row-major), a sequence of dimension indices from major-most to minor-most
        (``(1, 0)``: a column-major matrix), or a ``jax.experimental.layout.Layout`` without
        tiling. XLA lays the inputs out so, and the function receives views whose strides
        describe that memory (``x.stride(i)``): read them. Every call must pass one input per
        layout, of the rank its layout names. Not for Python functions or
        ``pass_owned_tensor=True`` (owned tensors are row-major).
      output_layouts: the same for the results (one layout alone for a single result); the
        function writes them through the strides of its views.
      embed: put the function's shared library into the program instead of registering a
        target: the custom call carries the library's bytes, their SHA-256, the exported name,
        the arg spec and the options, and calls one of :func:`embedded_targets`, which
        ``import jax_tvm_ffi`` registers. A ``jax.export`` artifact or a cached executable then
        runs in a process that has only ``jax`` and ``jax_tvm_ffi``. Needs a function a shared
        library exports (``tvm_ffi.load_module``, ``tvm_ffi.cpp.load_inline``,
        ``tvm_ffi.cpp.build``); the library file is read now. ``name`` only names the function
        in messages. Not with ``batch_partitionable=True``.

    Returns:
      An :class:`FfiFunction`: call it as ``f(*arrays, **attributes)``. Its ``target_name``
      is the registered name. Calling ``ffi_function`` again with the same function and the
      same registration options (``name``, ``arg_spec``, ``batch_partitionable``,
      ``allow_cuda_graph``, ``pass_owned_tensor``, the workspace, the checks and the layouts)
      reuses the same target: nothing is registered twice.

    Raises:
      TypeError: an argument of the wrong type, or (at a call) a traced attribute, an
        attribute value JAX cannot lower, attributes that do not match ``arg_spec``, or a
        ``result_shape_dtypes`` function that returns no shapes.
      ValueError: an unknown platform, global function name or ``vmap_method``, an empty
        name, an alias to a result that does not exist, or an invalid ``arg_spec`` item.

    Example::

      >>> import jax, jax.numpy as jnp, numpy as np, jax_tvm_ffi
      >>> def add_one(x, y):
      ...     np.from_dlpack(y)[...] = np.from_dlpack(x) + 1
      >>> f = jax_tvm_ffi.ffi_function(add_one, lambda x: x)
      >>> jax.jit(f)(jnp.array([1.0, 2.0, 3.0], jnp.float32))
      Array([2., 3., 4.], dtype=float32)
    """
    where = "ffi_function" if name is None else f"ffi_function(name={name!r})"
    if name is not None:
        check_name("ffi_function", name)
    num_results = _check_results(result_shape_dtypes)
    if platform is not None:
        platform = check_platform(where, platform)
    _check_vmap_method(where, vmap_method)
    for flag_name, flag in (
        ("batch_partitionable", batch_partitionable),
        ("has_side_effect", has_side_effect),
        ("embed", embed),
    ):
        check_flag(where, flag_name, flag)
    if embed and batch_partitionable:
        raise ValueError(
            f"{where}: embed=True does not support batch_partitionable=True yet: the partitioner "
            "is registered per target name, and embedded kernels share the generic targets"
        )
    # Before the registration: it would turn a Python callable into a function, and the reason
    # such a function cannot be embedded would be lost.
    embedded = embedded_library(where, function) if embed else None
    if num_results == 0 and not has_side_effect:
        raise ValueError(
            f"{where}: result_shape_dtypes describes no results; a call without results is "
            "dropped by XLA unless has_side_effect=True"
        )
    aliases = _check_aliases(input_output_aliases, num_results)
    workspace = _check_workspace_bytes(workspace_bytes)
    in_layouts = parse_layouts(where, "input_layouts", input_layouts)
    out_layouts = parse_layouts(where, "output_layouts", output_layouts)
    core_in = None if in_layouts is None else in_layouts.for_core()
    core_out = None if out_layouts is None else out_layouts.for_core()
    owned = pass_owned_tensor is True or is_python_callable(function)
    if owned and (core_in is not None or core_out is not None):
        raise ValueError(
            f"{where}: non-default input_layouts/output_layouts need borrowed views, which "
            "Python functions and pass_owned_tensor=True do not get (owned tensors are "
            "row-major); give the function row-major operands"
        )
    registration = make_registration(
        where,
        name or "",
        function,
        arg_spec,
        allow_cuda_graph=allow_cuda_graph,
        pass_owned_tensor=pass_owned_tensor,
        last_result_is_workspace=workspace is not None,
        check=check,
        batch_partitionable=batch_partitionable,
        input_layouts=core_in,
        output_layouts=core_out,
    )
    if name is None and embedded is not None:
        # Only for messages: nothing is registered under it, so it takes no generated name.
        registration = dataclasses.replace(registration, name=f"jax_tvm_ffi.{_name_stem(function)}")
    elif name is None:
        registration = dataclasses.replace(
            registration, name=REGISTRY.generated_name(registration, _name_stem(function))
        )
    previous = None if embedded is not None else REGISTRY.claim(registration)
    if name is not None and previous is not None and previous != registration:
        warnings.warn(
            f"ffi_function(name={name!r}): the name was bound to {previous.function!r} with "
            f"{_options(previous)}; every FfiFunction named {name!r} now calls "
            f"{registration.function!r} with {_options(registration)}",
            stacklevel=2,
        )
    wrapped = FfiFunction(
        registration,
        result_shape_dtypes,
        platform=platform,
        vmap_method=vmap_method,
        input_output_aliases=aliases,
        has_side_effect=has_side_effect,
        workspace_bytes=workspace,
        input_layouts=in_layouts,
        output_layouts=out_layouts,
        embedded=embedded,
    )
    if platform is not None:
        wrapped.register(platform)
    return wrapped


def _options(registration: Registration) -> str:
    fields = (
        "arg_spec",
        "allow_cuda_graph",
        "pass_owned_tensor",
        "last_result_is_workspace",
        "check",
        "batch_partitionable",
    )
    # Layouts (minor-to-major, as the core takes them) only where given: most targets have none.
    fields += tuple(
        field
        for field in ("input_layouts", "output_layouts")
        if getattr(registration, field) is not None
    )
    return ", ".join(f"{field}={getattr(registration, field)!r}" for field in fields)
