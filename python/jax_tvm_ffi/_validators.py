"""Checks of what users pass to ``register_ffi_target`` and ``ffi_function``.

Each check takes ``where`` (the call and target, for the message), raises an error that says what
is wrong and what to pass instead, and returns the value in the form the rest of the package
uses. Platform names are known here and nowhere else in Python.
"""

from __future__ import annotations

import functools
import inspect
import os
import types
from collections.abc import Callable, Sequence
from typing import Any

import tvm_ffi

from jax_tvm_ffi._errors import ArgSpecError, GlobalFunctionNotFoundError, PlatformTypeError

FunctionLike = tvm_ffi.Function | Callable[..., Any] | str

# The platform names users may pass, and the name the package and the core use for each.
PLATFORMS = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda", "rocm": "rocm"}

# The checks of the checking mode, as the core numbers them (CheckFlags in target.h).
CHECKS = {"guards": 1, "inputs": 2, "nan": 4, "trace": 8}
_DEFAULT_CHECKS = ("guards", "inputs")
CHECK_ENVIRONMENT_VARIABLE = "JAX_TVM_FFI_CHECK"


def describe(value: Any) -> str:
    return f"{value!r} of type {type(value).__name__}"


def check_name(where: str, name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{where}: name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError(f"{where}: name must not be empty")
    return name


def check_platform(where: str, platform: Any) -> str:
    """Returns the canonical platform ("cpu", "cuda" or "rocm") for a user's platform name."""
    choices = ", ".join(repr(p) for p in PLATFORMS)
    if not isinstance(platform, str):
        raise PlatformTypeError(
            f"{where}: platform must be a str, one of {choices}; got {describe(platform)}"
        )
    canonical = PLATFORMS.get(platform.lower())
    if canonical is None:
        raise ValueError(f"{where}: unknown platform {platform!r}; choose one of {choices}")
    return canonical


def check_arg_spec(where: str, arg_spec: Any) -> tuple[str, ...] | None:
    """The items as a tuple, or None for the default spec; items are parsed by the core."""
    if arg_spec is None:
        return None
    if isinstance(arg_spec, (str, bytes)) or not isinstance(arg_spec, Sequence):
        raise TypeError(
            f'{where}: arg_spec must be a list of strings such as ["args", "rets"], '
            f"not {type(arg_spec).__name__}"
        )
    for item in arg_spec:
        if not isinstance(item, str):
            raise TypeError(f"{where}: every arg_spec item must be a str, got {describe(item)}")
    return tuple(arg_spec)


def arg_spec_error(where: str, error: Exception) -> ArgSpecError:
    """The core's ValueError for an invalid item, as the class both packages' users catch."""
    return ArgSpecError(f"{where}: {error}")


def check_flag(where: str, flag_name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{where}: {flag_name} must be a bool, got {describe(value)}")
    return value


def check_checks(where: str, check: Any) -> int:
    """The checking mode's bitmask for ``check=`` (None: the JAX_TVM_FFI_CHECK variable)."""
    if check is None:
        check = os.environ.get(CHECK_ENVIRONMENT_VARIABLE, "")
        where = f"{where} ({CHECK_ENVIRONMENT_VARIABLE}={check!r})"
    if isinstance(check, bool):
        names: Sequence[str] = _DEFAULT_CHECKS if check else ()
    elif isinstance(check, str):
        text = check.strip().lower()
        if text in ("", "0", "false", "off"):
            names = ()
        elif text in ("1", "true", "on"):
            names = _DEFAULT_CHECKS
        elif text == "all":
            names = tuple(CHECKS)
        else:
            names = tuple(part.strip() for part in text.split(",") if part.strip())
    else:
        raise TypeError(
            f"{where}: check must be a bool or a str such as 'guards,nan,trace', "
            f"got {describe(check)}"
        )
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise ValueError(
            f"{where}: unknown check {unknown[0]!r}; choose from "
            + ", ".join(repr(c) for c in CHECKS)
            + ", 'all', True (guards and inputs) or False"
        )
    flags = 0
    for name in names:
        flags |= CHECKS[name]
    return flags


def as_tvm_function(where: str, function: Any) -> tvm_ffi.Function:
    """The tvm_ffi.Function to register for what the user passed as ``function``."""
    if isinstance(function, tvm_ffi.Function):
        return function
    if isinstance(function, str):
        if not function:
            raise ValueError(f"{where}: the global function name must not be empty")
        found = tvm_ffi.get_global_func(function, allow_missing=True)
        if found is None:
            raise GlobalFunctionNotFoundError(
                f"{where}: no TVM FFI global function is named '{function}'"
            )
        return found
    if callable(function):
        _check_runs_when_called(where, function)
        return tvm_ffi.convert(_keep_exception_names(function))
    raise TypeError(
        f"{where}: function must be a tvm_ffi.Function, a Python callable or the name of a TVM FFI "
        f"global function, got {describe(function)}"
    )


def is_python_callable(function: Any) -> bool:
    return not isinstance(function, (tvm_ffi.Function, str)) and callable(function)


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


def _check_runs_when_called(where: str, function: Callable[..., Any]) -> None:
    made = _not_run_kind(function)
    if made is not None:
        raise TypeError(
            f"{where}: calling the function would only create {made} and run none of its code; a "
            "target's function must do its work when called (a plain `def` without `yield`)"
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
