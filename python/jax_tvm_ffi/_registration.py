"""Registering targets: ``register_ffi_target``, ``registered_count``, ``get_last_workspace_peak``.

One record, :class:`Registration`, holds everything a registration decides; it is immutable and
serves as the cache key of generated names too. One object, ``REGISTRY``, holds every piece of
registration state the Python side keeps, under one lock. The core keeps the handlers.
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import threading
from collections.abc import Hashable, Sequence
from typing import Any

import jax.ffi
import tvm_ffi

from jax_tvm_ffi import _exit_guard  # noqa: F401 - installs the exit guard with the first target
from jax_tvm_ffi._core import core
from jax_tvm_ffi._validators import (
    FunctionLike,
    arg_spec_error,
    as_tvm_function,
    check_arg_spec,
    check_checks,
    check_flag,
    check_name,
    check_platform,
)

_serials = itertools.count(1)


def function_identity(function: FunctionLike) -> Hashable:
    """What makes two ``function`` arguments the same function."""
    if isinstance(function, tvm_ffi.Function):
        return ("tvm", function)  # compares by the underlying object, not the Python wrapper
    if isinstance(function, str):
        # the function the name resolves to now: a name re-bound to another function differs
        return ("tvm", tvm_ffi.get_global_func(function, allow_missing=True))
    try:
        hash(function)
    except TypeError:
        return ("id", id(function))  # the record keeps the callable alive: the id stays unique
    return ("callable", function)


@dataclasses.dataclass(frozen=True)
class Registration:
    """What one registration of a target decides. Two equal records register the same thing.

    ``function`` is what the user passed (kept alive by the record); ``tvm_function`` what the
    core calls; ``serial`` orders registrations, so that the one made last wins.
    """

    name: str
    identity: Hashable
    arg_spec: tuple[str, ...] | None
    allow_cuda_graph: bool = False
    pass_owned_tensor: bool = False
    last_result_is_workspace: bool = False
    check: int = 0
    batch_partitionable: bool = False
    # Per operand, XLA's minor-to-major order (() for row-major); None: every operand row-major.
    input_layouts: tuple[tuple[int, ...], ...] | None = None
    output_layouts: tuple[tuple[int, ...], ...] | None = None
    function: Any = dataclasses.field(default=None, compare=False, repr=False)
    tvm_function: tvm_ffi.Function | None = dataclasses.field(
        default=None, compare=False, repr=False
    )
    serial: int = dataclasses.field(default_factory=lambda: next(_serials), compare=False)

    def core_options(self, platform: str) -> dict[str, Any]:
        """The options as the core's ``register_target`` reads them, by name."""
        options: dict[str, Any] = {
            "platform": platform,
            "allow_cuda_graph": self.allow_cuda_graph,
            "pass_owned_tensor": self.pass_owned_tensor,
            "last_result_is_workspace": self.last_result_is_workspace,
            "check": self.check,
        }
        for key, layouts in (
            ("input_layouts", self.input_layouts),
            ("output_layouts", self.output_layouts),
        ):
            if layouts is not None:
                options[key] = [list(layout) for layout in layouts]
        return options


def capsule(address: int) -> Any:
    """The XLA FFI handler at ``address`` as the PyCapsule ``jax.ffi.register_ffi_target`` takes."""
    return jax.ffi.pycapsule(ctypes.cast(address, ctypes.c_void_p))


class _Registry:
    """Every piece of registration state on the Python side, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        # (name, platform) -> the registration the core runs there now.
        self._registered: dict[tuple[str, str], Registration] = {}
        # name -> the latest ffi_function made with that name: every FfiFunction of the name
        # registers this one, so that the one made last wins on every platform.
        self._claims: dict[str, Registration] = {}
        # A registration without its name -> the name generated for it, and how many generated
        # names each stem has (names stay stable across processes that create the same
        # functions in the same order: the persistent compilation cache relies on it).
        self._generated: dict[Registration, str] = {}
        self._stem_counts: dict[str, int] = {}
        self._batch_partitionable: set[str] = set()

    def register(self, registration: Registration, platform: str) -> Any:
        """Registers with the core and with XLA; returns the handler's capsule."""
        where = f"register_ffi_target('{registration.name}')"
        with self.lock:
            try:
                answer = core().register_target(
                    registration.name,
                    registration.tvm_function,
                    None if registration.arg_spec is None else list(registration.arg_spec),
                    registration.core_options(platform),
                )
            except ValueError as error:
                # ArgSpec::Parse starts every message so (src/registration/arg_spec.cc).
                if str(error).startswith("Invalid arg_spec item"):
                    raise arg_spec_error(where, error) from None
                raise ValueError(f"{where}: {error}") from None
            handler = capsule(int(answer["handler"]))
            jax.ffi.register_ffi_target(
                registration.name, handler, platform=str(answer["xla_platform"]), api_version=1
            )
            self._registered[(registration.name, platform)] = registration
            if (
                registration.batch_partitionable
                and registration.name not in self._batch_partitionable
            ):
                jax.ffi.register_ffi_target_as_batch_partitionable(registration.name)
                self._batch_partitionable.add(registration.name)
            return handler

    def claim(self, registration: Registration) -> Registration | None:
        """Makes ``registration`` the one its name's FfiFunctions register; returns the previous."""
        with self.lock:
            previous = self._claims.get(registration.name)
            if previous != registration:  # An equal claim stays, so nothing registers again.
                self._claims[registration.name] = registration
            return previous

    def ensure(self, name: str, platform: str) -> None:
        """Registers the name's claim on ``platform`` unless something newer is registered."""
        with self.lock:
            claim = self._claims[name]
            current = self._registered.get((name, platform))
            if current is None or current.serial < claim.serial:
                self.register(claim, platform)

    def generated_name(self, unnamed: Registration, stem: str) -> str:
        """The generated name for a registration: ``jax_tvm_ffi.<stem>``, then ``.1``, ``.2``."""
        with self.lock:
            name = self._generated.get(unnamed)
            if name is None:
                count = self._stem_counts.get(stem, 0)
                self._stem_counts[stem] = count + 1
                name = f"jax_tvm_ffi.{stem}" + (f".{count}" if count else "")
                self._generated[unnamed] = name
            return name


REGISTRY = _Registry()


def make_registration(
    where: str,
    name: str,
    function: FunctionLike,
    arg_spec: Sequence[str] | None,
    *,
    allow_cuda_graph: bool,
    pass_owned_tensor: bool,
    last_result_is_workspace: bool,
    check: bool | str | None,
    batch_partitionable: bool = False,
    input_layouts: tuple[tuple[int, ...], ...] | None = None,
    output_layouts: tuple[tuple[int, ...], ...] | None = None,
) -> Registration:
    """Checks every option and returns the record; registers nothing."""
    items = check_arg_spec(where, arg_spec)
    for flag_name, flag in (
        ("allow_cuda_graph", allow_cuda_graph),
        ("pass_owned_tensor", pass_owned_tensor),
        ("use_last_output_for_alloc_workspace", last_result_is_workspace),
    ):
        check_flag(where, flag_name, flag)
    checks = check_checks(where, check)
    return Registration(
        name=name,
        identity=function_identity(function),
        arg_spec=items,
        allow_cuda_graph=allow_cuda_graph,
        pass_owned_tensor=pass_owned_tensor,
        last_result_is_workspace=last_result_is_workspace,
        check=checks,
        batch_partitionable=batch_partitionable,
        input_layouts=input_layouts,
        output_layouts=output_layouts,
        function=function,
        tvm_function=as_tvm_function(where, function),
    )


def register_ffi_target(
    name: str,
    function: FunctionLike,
    arg_spec: Sequence[str] | None = None,
    platform: str = "cpu",
    *,
    allow_cuda_graph: bool = False,
    pass_owned_tensor: bool = False,
    use_last_output_for_alloc_workspace: bool = False,
    check: bool | str | None = None,
) -> Any:
    """Registers a TVM FFI function as the XLA FFI target ``name``.

    After registration, ``jax.ffi.ffi_call(name, result_shapes)(*args, **attrs)`` calls the
    function inside or outside ``jax.jit``.

    Args:
      name: the target name used by ``jax.ffi.ffi_call``.
      function: a ``tvm_ffi.Function`` (from ``tvm_ffi.cpp.load_inline``,
        ``tvm_ffi.load_module``, ...), any Python callable, or the name of a TVM FFI global
        function. The registry keeps it alive.
      arg_spec: what the function receives, in order. Items: ``"args"`` (the inputs no index
        names), ``"rets"`` (the outputs no index names), ``"args.<i>"`` / ``"rets.<i>"`` (the
        i-th input / output), ``"args.<i>?"`` / ``"rets.<i>?"`` (that buffer, or None when it
        has zero elements), ``"none"`` (None), ``"attrs.<name>"`` (one attribute, by name),
        ``"ctx.stream"`` (the platform stream as an int, 0 on CPU) and ``"ctx.device_id"``
        (the device ordinal). Default ``["args", "rets"]``.
      platform: ``"cpu"``, ``"gpu"``/``"cuda"`` or ``"rocm"``.
      allow_cuda_graph: report the handler as CUDA-graph (command buffer) compatible.
      pass_owned_tensor: pass owned ``tvm_ffi.Tensor`` objects instead of borrowed views, so a
        Python function can ``np.from_dlpack`` them. Always on for Python callables. A result
        kept past the call fails it; so does an argument kept on a GPU (emptied). An argument
        kept on CPU is a private copy of the input and does not fail the call.
      use_last_output_for_alloc_workspace: the call's last result is a workspace, a 1-D
        ``uint8`` buffer the caller sizes (``jax.ShapeDtypeStruct((nbytes,), jnp.uint8)``). It is
        not passed to the function; the function's ``TVMFFIEnvTensorAlloc`` requests on the
        call's device are carved from it (128-byte aligned addresses). See
        :func:`get_last_workspace_peak`.
      check: the checking mode for kernel development: ``True`` (guard bytes around every
        buffer and unchanged inputs, on CPU), ``False``, or a comma list of ``"guards"``,
        ``"inputs"``, ``"nan"``, ``"trace"`` or ``"all"``. Default ``None``: the
        ``JAX_TVM_FFI_CHECK`` environment variable, same values (unset: off).

    Registering a name again on the same platform replaces its function in place.

    Returns:
      The target's XLA FFI handler as a ``PyCapsule`` (the same handler each time for a name and
      platform), as ``jax.ffi.register_ffi_target`` takes it.

    Raises:
      TypeError: a function, name or arg_spec of the wrong type.
      ValueError: an empty name, an unknown platform, or a re-registration that changes
        ``allow_cuda_graph``.
      ArgSpecError: an invalid arg_spec item (a ``ValueError`` and a ``RuntimeError``).

    Example::

      >>> import jax, numpy as np, jax_tvm_ffi
      >>> def add_one(x, y):
      ...     np.from_dlpack(y)[...] = np.from_dlpack(x) + 1
      >>> _ = jax_tvm_ffi.register_ffi_target("demo.add_one", add_one, pass_owned_tensor=True)
      >>> x = np.array([1.0, 2.0, 3.0], np.float32)
      >>> jax.ffi.ffi_call("demo.add_one", jax.ShapeDtypeStruct(x.shape, x.dtype))(x)
      Array([2., 3., 4.], dtype=float32)
    """
    check_name("register_ffi_target", name)
    where = f"register_ffi_target('{name}')"
    canonical_platform = check_platform(where, platform)
    registration = make_registration(
        where,
        name,
        function,
        arg_spec,
        allow_cuda_graph=allow_cuda_graph,
        pass_owned_tensor=pass_owned_tensor,
        last_result_is_workspace=use_last_output_for_alloc_workspace,
        check=check,
    )
    return REGISTRY.register(registration, canonical_platform)


def registered_count() -> int:
    """Returns the number of distinct (name, platform) targets registered in this process."""
    return int(core().registered_count())


def get_last_workspace_peak() -> int:
    """Returns the peak workspace bytes of the last call with a workspace on this thread.

    The peak is the highest offset in the workspace any tensor reached (alignment padding
    included): the smallest workspace that would have served the call. 0 when no call with
    ``use_last_output_for_alloc_workspace=True`` has run on this thread. On CPU, JAX runs a
    computation's calls on the thread that dispatched it when it runs synchronously; calls run
    on XLA's own threads (GPUs, asynchronous dispatch) are not seen here: use
    :func:`scratch_usage` there, which counts a target's workspace tensors on every thread.
    """
    return int(core().last_workspace_peak())
