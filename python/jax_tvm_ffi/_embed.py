"""Kernels embedded in the program: ``ffi_function(..., embed=True)``.

A registered target is found by name, so the process that runs a program must register it first.
An embedded kernel travels inside the program instead: its custom call names one of two generic
targets that ``import jax_tvm_ffi`` registers, and carries the kernel's shared library (bytes and
SHA-256), the name the library exports the function under, the arg spec and the registration
options as attributes whose names start with ``!jax_tvm_ffi.`` (XLA sorts attributes by name, so
they come before the kernel's own). The core loads the library when XLA instantiates the call,
once per digest per process, and strips those attributes before the kernel's arg spec sees the
rest. This module builds that payload (``payload_attributes``, the one place that does) and
registers the two generic targets.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from typing import Any

import jax
import numpy as np
import tvm_ffi

from jax_tvm_ffi._core import core
from jax_tvm_ffi._registration import Registration, capsule
from jax_tvm_ffi._validators import as_tvm_function, describe, is_python_callable

# The payload format; the core refuses a newer one, naming the version it reads.
PAYLOAD_VERSION = 1
PAYLOAD_PREFIX = "!jax_tvm_ffi."
EMBEDDED_TARGET = "jax_tvm_ffi.embedded"
EMBEDDED_CUDA_GRAPH_TARGET = "jax_tvm_ffi.embedded_cuda_graph"
# Read by the core when it loads: set to 1, the process refuses to load embedded kernels.
REFUSE_ENVIRONMENT_VARIABLE = "JAX_TVM_FFI_REFUSE_EMBEDDED_KERNELS"
# What the core's register_target uses when no arg spec is given.
_DEFAULT_ARG_SPEC = ("args", "rets")
# The platforms the generic targets are registered on, as XLA names them. One that this jaxlib
# has no backend for is kept pending by jaxlib (or refused by some versions): either is fine.
_XLA_PLATFORMS = ("cpu", "CUDA", "ROCM")


@dataclasses.dataclass(frozen=True)
class EmbeddedLibrary:
    """The library an embedded function comes from, as the payload carries it."""

    path: str
    function: str  # the name the library exports it under (without ``__tvm_ffi_``)
    digest: str  # lowercase hex SHA-256 of ``data``
    data: np.ndarray = dataclasses.field(compare=False, repr=False)  # 1-D uint8, read-only


@functools.lru_cache(maxsize=64)
def _read_library(path: str, mtime_ns: int, size: int) -> tuple[np.ndarray, str]:
    """The file's bytes and digest; keyed by the file's mtime and size, so a rebuild is re-read."""
    del mtime_ns, size
    with open(path, "rb") as file:
        data = file.read()
    array = np.frombuffer(data, dtype=np.uint8)  # read-only: shared by every payload
    return array, hashlib.sha256(data).hexdigest()


def embedded_kernels_unsupported() -> str | None:
    """Why this installation cannot run embedded kernels, or None when it can.

    The core speaks XLA's call-site state API in the layout of the headers it was compiled
    against; a jaxlib that reads that layout differently (older than it, or newer than API 0.1
    for a core built against 0.1) cannot run embedded kernels (the core refuses them when XLA
    instantiates them rather than crash).
    """
    from jax_tvm_ffi._core import build_info, installed_xla_api_version

    layout = int(core().embedded_state_api_minor())
    running = installed_xla_api_version()
    # API 0.1's layout is read right by 0.1 alone; later layouts by their version and newer.
    if running is None or (running[1] >= layout and (layout > 1 or running[1] == 1)):
        return None
    return (
        "embedded kernels need a jax_tvm_ffi built against the installed jaxlib's XLA FFI API: "
        f"this one was built against {build_info()['xla_ffi_api']}, the installed jaxlib speaks "
        f"{running[0]}.{running[1]}; rebuild jax_tvm_ffi against the installed jaxlib"
    )


def embedded_library(where: str, function: Any) -> EmbeddedLibrary:
    """Finds and reads the shared library ``function`` comes from, or says why it has none."""
    if (why := embedded_kernels_unsupported()) is not None:
        raise RuntimeError(f"{where}: {why}")
    if is_python_callable(function):
        raise TypeError(
            f"{where}: embed=True needs native code from a shared library, but {describe(function)}"
            " is a Python callable: it runs in this interpreter and has no library to put into "
            "the program. Register it by name instead (embed=False)"
        )
    if not isinstance(function, (tvm_ffi.Function, str)):
        raise TypeError(
            f"{where}: embed=True needs a tvm_ffi.Function from a shared library (tvm_ffi."
            f"load_module, tvm_ffi.cpp.load_inline, tvm_ffi.cpp.build), got {describe(function)}"
        )
    found = core().function_library(as_tvm_function(where, function))
    if found is None:
        what = (
            f"the global function '{function}'"
            if isinstance(function, str)
            else f"the function {function!r}"
        )
        raise ValueError(
            f"{where}: embed=True needs a function that a shared library exports "
            f"(tvm_ffi.load_module, tvm_ffi.cpp.load_inline, tvm_ffi.cpp.build), but {what} "
            "has no library symbol: it was made at run time (in C++, by a registry, or by a "
            "JIT that links objects in memory, such as ORC JIT), so there are no library bytes "
            "to embed. Register it by name instead (embed=False)"
        )
    path, exported = (str(part) for part in found)
    try:
        stat = os.stat(path)
        data, digest = _read_library(path, stat.st_mtime_ns, stat.st_size)
    except OSError as error:
        raise ValueError(
            f"{where}: embed=True reads the library the function was loaded from, {path}, "
            f"but it cannot be read: {error}. Call ffi_function(..., embed=True) while the "
            "library file is still there (before deleting the build directory)"
        ) from None
    return EmbeddedLibrary(path=path, function=exported, digest=digest, data=data)


def embedded_target(registration: Registration) -> str:
    """The generic target an embedded call of ``registration`` names."""
    return EMBEDDED_CUDA_GRAPH_TARGET if registration.allow_cuda_graph else EMBEDDED_TARGET


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, str)):
        return str(value)
    # Layouts: one operand per ";"-separated entry, its dimensions minor-to-major, ","-separated.
    return ";".join(",".join(str(dim) for dim in layout) for layout in value)


def payload_attributes(
    library: EmbeddedLibrary, registration: Registration, platform: str
) -> dict[str, Any]:
    """The ``!jax_tvm_ffi.*`` attributes of an embedded call on ``platform`` (cpu, cuda, rocm).

    The options are those ``register_target`` would get for the same registration, so the core
    builds the same target from them.
    """
    options = registration.core_options(platform)
    arg_spec = _DEFAULT_ARG_SPEC if registration.arg_spec is None else registration.arg_spec
    fields = {
        "version": np.int64(PAYLOAD_VERSION),
        "name": registration.name,
        "function": library.function,
        "library": library.data,
        "digest": library.digest,
        "arg_spec": "\n".join(arg_spec),
        "options": "".join(f"{key}={_option_text(value)}\n" for key, value in options.items()),
    }
    return {PAYLOAD_PREFIX + key: value for key, value in fields.items()}


def register_embedded_targets() -> None:
    """Registers the two generic targets with XLA, on every platform, with their instantiate
    stage (where the core loads the library); called once, by ``import jax_tvm_ffi``."""
    handlers = core().embedded_handlers()
    for target, kind in ((EMBEDDED_TARGET, "plain"), (EMBEDDED_CUDA_GRAPH_TARGET, "cuda_graph")):
        handler = capsule(int(handlers[kind]))
        bundle = {"instantiate": handler, "execute": handler}
        for platform in _XLA_PLATFORMS:
            try:
                jax.ffi.register_ffi_target(target, bundle, platform=platform, api_version=1)
            except Exception:
                if platform == "cpu":
                    raise


def embedded_targets() -> tuple[str, ...]:
    """The custom-call target names of embedded kernels (plain, then CUDA-graph compatible)."""
    return (EMBEDDED_TARGET, EMBEDDED_CUDA_GRAPH_TARGET)


def export_disabled_checks() -> list[Any]:
    """What ``jax.export.export(..., disabled_checks=...)`` needs to accept embedded kernels.

    ``jax.export`` refuses custom calls it cannot vouch for; embedded kernels need nothing else
    from the process that runs the artifact. Example::

      exported = jax.export.export(f, disabled_checks=jax_tvm_ffi.export_disabled_checks())(x)
    """
    import jax.export  # jax 0.6 imports this submodule only when asked to

    return [jax.export.DisabledSafetyCheck.custom_call(name) for name in embedded_targets()]


def allow_embedded_kernels(flag: bool) -> None:
    """Lets this process load embedded kernels (``True``, the default) or refuses them.

    An embedded kernel is native code that runs in this process with its rights, loaded from the
    program (a ``jax.export`` artifact, a cached executable). Refused, an embedded call fails when
    XLA compiles or instantiates it, with an error that says so; kernels already loaded keep
    running. The environment variable ``JAX_TVM_FFI_REFUSE_EMBEDDED_KERNELS=1`` refuses them from
    the start (read when ``jax_tvm_ffi`` is imported).
    """
    if not isinstance(flag, bool):
        raise TypeError(f"allow_embedded_kernels: flag must be a bool, got {describe(flag)}")
    core().allow_embedded_kernels(flag)


def embedded_kernels_allowed() -> bool:
    """Whether this process loads embedded kernels (see :func:`allow_embedded_kernels`)."""
    return bool(core().embedded_kernels_allowed())
