"""``ffi_function``: a TVM FFI function as a JAX-callable in one line.

``register_ffi_target`` plus ``jax.ffi.ffi_call`` need a target name, a registration and the
result shapes spelled out at every call site. ``ffi_function`` does all three: it names the
target (or takes the name given), registers it once per platform, and derives the result shapes
from a ``jax.ShapeDtypeStruct`` pytree or from a function of the inputs' shapes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import tvm_ffi

from jax_tvm_ffi._batch_partitioning import mark_batch_partitionable
from jax_tvm_ffi._registration import register_ffi_target

FunctionLike = tvm_ffi.Function | Callable[..., Any] | str
# A pytree whose leaves have ``shape`` and ``dtype`` (usually ``jax.ShapeDtypeStruct``), or a
# function from the inputs' ``jax.ShapeDtypeStruct``s and the call's attributes to one.
ResultShapes = Any | Callable[..., Any]

_VMAP_METHODS = (
    "sequential",
    "sequential_unrolled",
    "expand_dims",
    "broadcast_all",
    "legacy_vectorized",
    None,
)
_PLATFORMS = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda", "rocm": "rocm"}

# Registration state shared by every FfiFunction, guarded by _lock.
_lock = threading.Lock()
# Registration options -> the generated target name, so one function is registered once.
_generated_names: dict[Hashable, str] = {}
# Generated-name stem -> how many targets use it (names stay stable across processes that
# create the same functions in the same order: the persistent compilation cache relies on it).
_stem_counts: dict[str, int] = {}
# (target name, platform) -> the registration options registered there now.
_registered: dict[tuple[str, str], Hashable] = {}
_batch_partitionable: set[str] = set()


def _describe(value: Any) -> str:
    return f"{value!r} of type {type(value).__name__}"


def _function_identity(function: FunctionLike) -> Hashable:
    """What makes two ``function`` arguments the same function for the registration cache."""
    if isinstance(function, tvm_ffi.Function):
        return ("tvm", function)  # compares by the underlying object, not the Python wrapper
    if isinstance(function, str):
        # the function the name resolves to now: a name re-bound to another function differs
        return ("tvm", tvm_ffi.get_global_func(function))
    try:
        hash(function)
    except TypeError:
        return ("id", id(function))  # the cache keeps the callable alive, so the id stays unique
    return ("callable", function)


def _name_stem(function: FunctionLike) -> str:
    if isinstance(function, str):
        stem = function
    elif isinstance(function, tvm_ffi.Function):
        stem = "function"
    else:
        stem = getattr(function, "__name__", None) or type(function).__name__
    return re.sub(r"[^A-Za-z0-9_.]", "_", stem).strip("._") or "function"


def _check_platform(platform: Any, where: str) -> str:
    if not isinstance(platform, str):
        raise TypeError(f"{where}: platform must be a str such as 'cpu', got {_describe(platform)}")
    normalized = _PLATFORMS.get(platform.lower())
    if normalized is None:
        raise ValueError(
            f"{where}: unknown platform {platform!r}; choose one of "
            + ", ".join(repr(p) for p in _PLATFORMS)
            + " or leave it None to use the platform of the inputs"
        )
    return normalized


def _device_platform(device: Any) -> str:
    platform = str(getattr(device, "platform", device)).lower()
    if platform == "gpu":
        version = str(getattr(getattr(device, "client", None), "platform_version", "")).lower()
        return "rocm" if "rocm" in version else "cuda"
    if platform not in _PLATFORMS:
        raise ValueError(
            f"ffi_function: the platform of the inputs (or of JAX's default device) is "
            f"{platform!r}, which jax_tvm_ffi does not support; it supports 'cpu', 'cuda' and "
            "'rocm' (pass platform= to choose one)"
        )
    return _PLATFORMS[platform]


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
                f".shape and .dtype), but contains {_describe(leaf)}"
            )


def _input_shape(arg: Any) -> jax.ShapeDtypeStruct:
    aval = jax.typeof(arg)
    return jax.ShapeDtypeStruct(aval.shape, aval.dtype)


# jax before 0.9.1 lowers a bool array attribute as its bit-packed bytes under the array's own
# shape, which MLIR reads as one repeated byte: [True, False, True] reaches the kernel as
# [5, 5, 5]. Newer jax lowers it as i1, which XLA refuses with an error of its own.
_PACKS_BOOL_ARRAYS = jax.__version_info__ < (0, 9, 1)


def _check_no_bool_array(target_name: str, key: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for inner_key, inner in value.items():
            _check_no_bool_array(target_name, f"{key}.{inner_key}", inner)
    elif _PACKS_BOOL_ARRAYS and isinstance(value, np.ndarray) and value.dtype == np.bool_:
        raise TypeError(
            f"ffi_function('{target_name}'): attribute '{key}' is a bool array, which jax "
            f"{jax.__version__} passes corrupted (bit-packed); pass it as "
            "value.astype(np.uint8), or use jax >= 0.9.1"
        )


class FfiFunction:
    """A TVM FFI function bound to an XLA FFI target; made by :func:`ffi_function`.

    Call it like a JAX function: ``f(*arrays, **attributes)``. It works eagerly and under
    ``jax.jit``, ``vmap``, ``scan``, ``shard_map``, ``jax.export`` and the other
    transformations that ``jax.ffi.ffi_call`` supports.
    """

    def __init__(
        self,
        function: FunctionLike,
        result_shape_dtypes: ResultShapes,
        *,
        target_name: str,
        registration_key: Hashable,
        arg_spec: list[str] | None,
        platform: str | None,
        vmap_method: str | None,
        input_output_aliases: dict[int, int] | None,
        batch_partitionable: bool,
        has_side_effect: bool,
        allow_cuda_graph: bool,
        pass_owned_tensor: bool,
    ) -> None:
        self._function = function
        self._results = result_shape_dtypes
        self._target_name = target_name
        self._key = registration_key
        self._arg_spec = arg_spec
        self._platform = platform
        self._vmap_method = vmap_method
        self._aliases = input_output_aliases
        self._batch_partitionable = batch_partitionable
        self._has_side_effect = has_side_effect
        self._allow_cuda_graph = allow_cuda_graph
        self._pass_owned_tensor = pass_owned_tensor
        self._attr_names = (
            None
            if arg_spec is None
            else frozenset(item[len("attrs.") :] for item in arg_spec if item.startswith("attrs."))
        )
        # Platforms this object has registered on: registering once per object means that when
        # two FfiFunctions share an explicit name, the one made last keeps it.
        self._done: set[str] = set()
        self.__name__ = target_name
        self.__qualname__ = target_name
        self.__doc__ = getattr(function, "__doc__", None) or FfiFunction.__doc__

    @property
    def target_name(self) -> str:
        """The XLA FFI target name this function calls (for ``DisabledSafetyCheck``, HLO)."""
        return self._target_name

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

        Returns:
          The target name.
        """
        where = f"ffi_function('{self._target_name}').register"
        if platform is None:
            platform = self._platform or _platform_of_inputs(())
        else:
            platform = _check_platform(platform, where)
        self._register_on(platform)
        return self._target_name

    def _register_on(self, platform: str) -> None:
        if platform in self._done:
            return
        with _lock:
            if _registered.get((self._target_name, platform)) != self._key:
                register_ffi_target(
                    self._target_name,
                    self._function,
                    self._arg_spec,
                    platform,
                    allow_cuda_graph=self._allow_cuda_graph,
                    pass_owned_tensor=self._pass_owned_tensor,
                )
                _registered[(self._target_name, platform)] = self._key
            if self._batch_partitionable and self._target_name not in _batch_partitionable:
                jax.ffi.register_ffi_target_as_batch_partitionable(self._target_name)
                _batch_partitionable.add(self._target_name)
            self._done.add(platform)

    def _check_attributes(self, attrs: Mapping[str, Any]) -> None:
        for key, value in attrs.items():
            if isinstance(value, jax.core.Tracer):
                raise TypeError(
                    f"ffi_function('{self._target_name}'): attribute '{key}' is a traced value; "
                    "attributes are compiled into the call, so they must be static Python or "
                    "NumPy values: pass them inside the jitted function, or mark them static "
                    f"(jax.jit(f, static_argnames='{key}'))"
                )
            _check_no_bool_array(self._target_name, key, value)
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
                f"ffi_function('{self._target_name}'): attributes do not match arg_spec "
                f"{self._arg_spec}: " + "; ".join(problems)
            )

    def _result_shapes(self, args: Sequence[Any], attrs: Mapping[str, Any]) -> Any:
        if not callable(self._results):
            return self._results
        shapes = self._results(*(_input_shape(arg) for arg in args), **attrs)
        _check_result_leaves(
            jax.tree.leaves(shapes),
            f"ffi_function('{self._target_name}'): the result_shape_dtypes function's result",
        )
        return shapes

    def __call__(self, *args: Any, **attrs: Any) -> Any:
        """Calls the target on ``args`` (arrays) with ``attrs`` as XLA FFI attributes."""
        self._check_attributes(attrs)
        self._register_on(self._platform or _platform_of_inputs(args))
        shapes = self._result_shapes(args, attrs)
        leaves, treedef = jax.tree.flatten(shapes)
        if self._batch_partitionable:
            self._check_batch_dims(args, leaves)
        single = jax.tree_util.treedef_is_leaf(treedef) and not self._batch_partitionable
        call = jax.ffi.ffi_call(
            self._target_name,
            leaves[0] if single else leaves,
            vmap_method=self._vmap_method,
            input_output_aliases=self._aliases,
            has_side_effect=self._has_side_effect,
        )
        results = call(*args, **attrs)
        if single:
            return results
        if self._batch_partitionable:
            results = mark_batch_partitionable(results, self._target_name)
        return jax.tree.unflatten(treedef, list(results))

    def _check_batch_dims(self, args: Sequence[Any], results: Sequence[Any]) -> None:
        shapes = [tuple(_input_shape(arg).shape) for arg in args]
        shapes += [tuple(leaf.shape) for leaf in results]
        if any(not shape for shape in shapes) or len({shape[0] for shape in shapes}) > 1:
            raise ValueError(
                f"ffi_function('{self._target_name}'): batch_partitionable=True needs every input "
                "and result to have the same leading (batch) dimension, which the partitioner "
                f"splits; got inputs {shapes[: len(args)]} and results {shapes[len(args) :]}"
            )

    def __repr__(self) -> str:
        platform = self._platform or "inputs' platform"
        return f"<FfiFunction '{self._target_name}' on {platform}>"


def _check_function(function: Any, name: str | None) -> None:
    where = "ffi_function" if name is None else f"ffi_function(name='{name}')"
    if isinstance(function, str):
        if not function:
            raise ValueError(f"{where}: the global function name must not be empty")
        if tvm_ffi.get_global_func(function, allow_missing=True) is None:
            raise ValueError(f"{where}: no TVM FFI global function is named '{function}'")
        return
    if not isinstance(function, tvm_ffi.Function) and not callable(function):
        raise TypeError(
            f"{where}: function must be a tvm_ffi.Function, a Python callable or the name "
            f"of a TVM FFI global function, got {_describe(function)}"
        )


def _check_arg_spec(arg_spec: Any) -> list[str] | None:
    if arg_spec is None:
        return None
    if isinstance(arg_spec, (str, bytes)) or not isinstance(arg_spec, Sequence):
        raise TypeError(
            'ffi_function: arg_spec must be a list of strings such as ["args", "rets", '
            f'"attrs.eps"], got {_describe(arg_spec)}'
        )
    for item in arg_spec:
        if not isinstance(item, str):
            raise TypeError(
                f"ffi_function: every arg_spec item must be a str, got {_describe(item)}"
            )
    return list(arg_spec)


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
            f"got {_describe(aliases)}"
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
      name: the XLA FFI target name. Default: a unique generated name (see ``target_name``).
        Give a name when another process must find the target: ``jax.export`` artifacts and
        the persistent compilation cache refer to targets by name. Under a name given twice for
        different functions, the ``FfiFunction`` made last wins, as with
        ``register_ffi_target``.
      arg_spec: what the function receives, as in :func:`register_ffi_target`; with attributes
        (``"attrs.<name>"``) in it, every call must pass exactly those keyword arguments.
      platform: ``"cpu"``, ``"gpu"``/``"cuda"`` or ``"rocm"``. Default ``None``: at each call,
        the platform of the first input that is a concrete ``jax.Array``; for traced inputs
        (inside ``jax.jit``) or NumPy inputs, that of JAX's default device. Given a platform,
        the target is registered now.
      vmap_method: how ``jax.vmap`` batches the call, as in ``jax.ffi.ffi_call``. Default
        ``"sequential"`` (a loop: right for any kernel); ``"broadcast_all"`` or
        ``"expand_dims"`` make one call on the batched arrays, for kernels that treat leading
        dimensions as a batch.
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

    Returns:
      An :class:`FfiFunction`: call it as ``f(*arrays, **attributes)``. Its ``target_name``
      is the registered name. Calling ``ffi_function`` again with the same function and the
      same registration options (``name``, ``arg_spec``, ``batch_partitionable``,
      ``allow_cuda_graph``, ``pass_owned_tensor``) reuses the same target: nothing is
      registered twice.

    Raises:
      TypeError: an argument of the wrong type, or (at a call) a traced attribute,
        attributes that do not match ``arg_spec``, or a ``result_shape_dtypes`` function that
        returns no shapes.
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
    if name is not None:
        if not isinstance(name, str):
            raise TypeError(f"ffi_function: name must be a str, got {_describe(name)}")
        if not name:
            raise ValueError("ffi_function: name must not be empty")
    _check_function(function, name)
    num_results = _check_results(result_shape_dtypes)
    items = _check_arg_spec(arg_spec)
    if platform is not None:
        platform = _check_platform(platform, "ffi_function")
    if vmap_method not in _VMAP_METHODS:
        raise ValueError(
            f"ffi_function: unknown vmap_method {vmap_method!r}; choose one of "
            + ", ".join(repr(m) for m in _VMAP_METHODS)
        )
    if num_results == 0 and not has_side_effect:
        raise ValueError(
            "ffi_function: result_shape_dtypes describes no results; a call without results "
            "is dropped by XLA unless has_side_effect=True"
        )
    aliases = _check_aliases(input_output_aliases, num_results)
    for flag_name, flag in (
        ("batch_partitionable", batch_partitionable),
        ("has_side_effect", has_side_effect),
        ("allow_cuda_graph", allow_cuda_graph),
        ("pass_owned_tensor", pass_owned_tensor),
    ):
        if not isinstance(flag, bool):
            raise TypeError(f"ffi_function: {flag_name} must be a bool, got {_describe(flag)}")

    key = (
        _function_identity(function),
        name,
        None if items is None else tuple(items),
        batch_partitionable,
        allow_cuda_graph,
        pass_owned_tensor,
    )
    with _lock:
        target_name = name if name is not None else _generated_names.get(key)
        if target_name is None:
            stem = _name_stem(function)
            count = _stem_counts.get(stem, 0)
            _stem_counts[stem] = count + 1
            target_name = f"jax_tvm_ffi.{stem}" + (f".{count}" if count else "")
            _generated_names[key] = target_name
    wrapped = FfiFunction(
        function,
        result_shape_dtypes,
        target_name=target_name,
        registration_key=(key, function),  # holding the function keeps an id() key unique
        arg_spec=items,
        platform=platform,
        vmap_method=vmap_method,
        input_output_aliases=aliases,
        batch_partitionable=batch_partitionable,
        has_side_effect=has_side_effect,
        allow_cuda_graph=allow_cuda_graph,
        pass_owned_tensor=pass_owned_tensor,
    )
    if platform is not None:
        wrapped.register(platform)
    return wrapped
