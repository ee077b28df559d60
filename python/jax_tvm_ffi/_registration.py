"""``register_ffi_target`` and ``registered_count``: the package's public API."""

from __future__ import annotations

import atexit
import ctypes
import functools
import inspect
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

import jax.ffi
import tvm_ffi

from jax_tvm_ffi._core import core

FunctionLike = tvm_ffi.Function | Callable[..., Any] | str

_PLATFORMS = ("cpu", "gpu", "cuda", "rocm")


def _as_tvm_function(name: str, function: FunctionLike) -> tvm_ffi.Function:
    if isinstance(function, tvm_ffi.Function):
        return function
    if isinstance(function, str):
        found = tvm_ffi.get_global_func(function, allow_missing=True)
        if found is None:
            raise ValueError(
                f"register_ffi_target('{name}'): no TVM FFI global function is named '{function}'"
            )
        return found
    if callable(function):
        _check_runs_when_called(name, function)
        return tvm_ffi.convert(_keep_exception_names(function))
    raise TypeError(
        f"register_ffi_target('{name}'): function must be a tvm_ffi.Function, a Python callable "
        f"or the name of a global function, not {type(function).__name__}"
    )


# What calling a generator or coroutine function returns instead of running its body.
_NOT_RUN = {
    types.GeneratorType: "a generator (the function contains `yield`)",
    types.CoroutineType: "a coroutine (the function is `async def`)",
    types.AsyncGeneratorType: "an asynchronous generator (`async def` with `yield`)",
}


def _not_run_kind(function: Callable[..., Any]) -> str | None:
    """What calling ``function`` only creates, if it is a generator or coroutine function."""
    checks = (
        (inspect.isasyncgenfunction, types.AsyncGeneratorType),
        (inspect.isgeneratorfunction, types.GeneratorType),
        (inspect.iscoroutinefunction, types.CoroutineType),
    )
    # A callable object is checked through its __call__; inspect sees through partial and methods.
    candidates = [function]
    if not inspect.isroutine(function) and not isinstance(function, functools.partial):
        candidates.append(type(function).__call__)
    for candidate in candidates:
        for check, made in checks:
            if check(candidate):
                return _NOT_RUN[made]
    return None


def _check_runs_when_called(name: str, function: Callable[..., Any]) -> None:
    made = _not_run_kind(function)
    if made is not None:
        raise TypeError(
            f"register_ffi_target('{name}'): calling the function would only create {made} and "
            "run none of its code; a target's function must do its work when called (a plain "
            "`def` without `yield`)"
        )


def _keep_exception_names(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a Python callable so exceptions keep their class name across the FFI.

    tvm_ffi reports an exception whose class it does not know (ZeroDivisionError, a user's own
    class) as a bare "RuntimeError"; such exceptions are re-raised as RuntimeError with the
    class name leading the message. A call that returns a generator or coroutine (a wrapped
    generator function, which registration cannot see) fails naming that: the object would hold
    the arguments, tensors included, past the call.
    """
    known_kinds = getattr(tvm_ffi.core, "ERROR_TYPE_TO_NAME", {})

    @functools.wraps(function)
    def call(*args: Any) -> Any:
        try:
            result = function(*args)
        except BaseException as error:  # SystemExit, KeyboardInterrupt, ... keep their name too
            if type(error) in known_kinds:
                raise
            raise RuntimeError(f"{type(error).__name__}: {_message(error)}") from error
        if result is not None and type(result) in _NOT_RUN:
            made = _NOT_RUN[type(result)]
            _discard(result)
            del result  # The traceback must not keep the object, nor the tensors it holds.
            raise TypeError(
                f"the function returned {made} instead of running: its code did not run; a "
                "target's function must do its work when called"
            )
        return result

    return call


def _discard(unrun: Any) -> None:
    """Closes a generator or coroutine that never ran, so that it warns about nothing."""
    if not isinstance(unrun, types.AsyncGeneratorType):  # Its aclose() is itself awaitable.
        unrun.close()


def _message(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # noqa: BLE001 - an exception whose __str__ fails still has a name
        return f"<unprintable {type(error).__name__}>"


# How long exit waits for calls of Python targets that are already running. A call still running
# when the interpreter finalizes ends its thread where it stands when it next takes the GIL, as
# with jax.pure_callback, so the wait only lets calls about to finish finish; plain JAX does not
# wait at all, and a longer wait would only delay the exit.
_EXIT_WAIT_SECONDS = 0.1


def _block_python_calls_at_exit() -> None:
    """Stops XLA's threads from entering Python before the interpreter finalizes.

    Calls still queued in XLA fail without running their Python function; calls already running
    are waited for, briefly (the sleep releases the GIL they need to finish).
    """
    if core.cache_info().currsize == 0:
        return  # The core was never loaded: no target was registered.
    lib = core()
    lib.block_python_calls()
    deadline = time.monotonic() + _EXIT_WAIT_SECONDS
    while lib.python_calls_in_flight() and time.monotonic() < deadline:
        time.sleep(0.001)


class _AfterAllExitHandlers:
    """Registered with atexit, which releases it once every atexit handler has run.

    CPython drops its references to the registered callables only after calling all of them and
    before it starts finalizing, so this object's ``__del__`` is the last Python code to run with
    the interpreter intact. Blocking Python targets there, rather than in an atexit handler of
    our own, lets every atexit handler call them, also those registered before this module was
    imported (atexit runs handlers last-registered first).
    """

    def __call__(self) -> None:
        pass  # The work happens on release, in __del__.

    def __del__(self) -> None:
        _block_python_calls_at_exit()


atexit.register(_AfterAllExitHandlers())


@functools.cache
def _python_probe() -> tvm_ffi.Function:
    return tvm_ffi.convert(lambda *args: None)


def _is_python_backed(function: tvm_ffi.Function) -> bool:
    """True for a tvm_ffi.Function made from a Python callable (convert, register_global_func)."""
    return bool(core().same_callback_origin(function, _python_probe()))


def _is_python_callable(function: FunctionLike) -> bool:
    return not isinstance(function, (tvm_ffi.Function, str)) and callable(function)


def _check_arg_spec(name: str, arg_spec: Sequence[str] | None) -> list[str]:
    if arg_spec is None:
        return []
    if isinstance(arg_spec, (str, bytes)) or not isinstance(arg_spec, Sequence):
        raise TypeError(
            f"register_ffi_target('{name}'): arg_spec must be a list of strings such as "
            f'["args", "rets"], not {type(arg_spec).__name__}'
        )
    for item in arg_spec:
        if not isinstance(item, str):
            raise TypeError(
                f"register_ffi_target('{name}'): every arg_spec item must be a str, "
                f"got {item!r} of type {type(item).__name__}"
            )
    return list(arg_spec)


def _capsule(address: int) -> Any:
    return jax.ffi.pycapsule(ctypes.cast(address, ctypes.c_void_p))


def register_ffi_target(
    name: str,
    function: FunctionLike,
    arg_spec: Sequence[str] | None = None,
    platform: str = "cpu",
    *,
    allow_cuda_graph: bool = False,
    pass_owned_tensor: bool = False,
) -> None:
    """Registers a TVM FFI function as the XLA FFI target ``name``.

    After registration, ``jax.ffi.ffi_call(name, result_shapes)(*args, **attrs)`` calls the
    function inside or outside ``jax.jit``.

    Args:
      name: the target name used by ``jax.ffi.ffi_call``.
      function: a ``tvm_ffi.Function`` (from ``tvm_ffi.cpp.load_inline``,
        ``tvm_ffi.load_module``, ...), any Python callable, or the name of a TVM FFI global
        function. The registry keeps it alive.
      arg_spec: what the function receives, in order. Items: ``"args"`` (all inputs),
        ``"rets"`` (all outputs), ``"attrs.<name>"`` (one attribute, by name),
        ``"ctx.stream"`` (the platform stream as an int, 0 on CPU) and ``"ctx.device_id"``
        (the device ordinal). Default ``["args", "rets"]``.
      platform: ``"cpu"``, ``"gpu"``/``"cuda"`` or ``"rocm"``.
      allow_cuda_graph: report the handler as CUDA-graph (command buffer) compatible.
      pass_owned_tensor: pass owned ``tvm_ffi.Tensor`` objects instead of borrowed views, so a
        Python function can ``np.from_dlpack`` them. Always on for Python callables. A tensor
        kept past the call fails the call (on CPU the kept tensor holds a private copy; on GPUs
        it is emptied).

    Registering a name again on the same platform replaces its function in place.

    Raises:
      TypeError: a function, name or arg_spec of the wrong type.
      ValueError: an empty name, an invalid arg_spec item, an unknown platform, or a
        re-registration that changes ``allow_cuda_graph``.

    Example::

      >>> import jax, numpy as np, jax_tvm_ffi
      >>> def add_one(x, y):
      ...     np.from_dlpack(y)[...] = np.from_dlpack(x) + 1
      >>> jax_tvm_ffi.register_ffi_target("demo.add_one", add_one, pass_owned_tensor=True)
      >>> x = np.array([1.0, 2.0, 3.0], np.float32)
      >>> jax.ffi.ffi_call("demo.add_one", jax.ShapeDtypeStruct(x.shape, x.dtype))(x)
      Array([2., 3., 4.], dtype=float32)
    """
    if not isinstance(name, str):
        raise TypeError(f"register_ffi_target: name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("register_ffi_target: name must not be empty")
    if not isinstance(platform, str):
        raise TypeError(
            f"register_ffi_target('{name}'): platform must be a str, one of {_PLATFORMS}"
        )
    if platform.lower() not in _PLATFORMS:
        raise ValueError(
            f"register_ffi_target('{name}'): unknown platform {platform!r}; choose one of "
            + ", ".join(repr(p) for p in _PLATFORMS)
        )
    items = _check_arg_spec(name, arg_spec)
    tvm_function = _as_tvm_function(name, function)
    python_backed = _is_python_callable(function) or _is_python_backed(tvm_function)
    if python_backed:
        # Python code cannot use a borrowed DLTensor view (DLPack export of one crashes in
        # tvm_ffi), so Python functions always get owned tensors.
        pass_owned_tensor = True
    lib = core()
    try:
        address = lib.register_target(
            name,
            tvm_function,
            items,
            platform,
            bool(allow_cuda_graph),
            bool(pass_owned_tensor),
            arg_spec is None,
            python_backed,
        )
    except ValueError as error:
        raise ValueError(f"register_ffi_target('{name}'): {error}") from None
    jax.ffi.register_ffi_target(
        name, _capsule(address), platform=lib.xla_platform_name(platform), api_version=1
    )


def registered_count() -> int:
    """Returns the number of distinct (name, platform) targets registered in this process."""
    return int(core().registered_count())
