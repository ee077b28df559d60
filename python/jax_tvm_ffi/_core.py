"""Loads the C++ core (``libjax_tvm_ffi.so``) through the TVM FFI module loader."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import jax.ffi
import jaxlib
import tvm_ffi

_LIBRARY_NAME = "libjax_tvm_ffi.so"


@functools.cache
def core() -> tvm_ffi.Module:
    """Returns the loaded core module.

    Its functions are defined in ``src/registration/python_module.cc``.
    """
    path = Path(__file__).with_name(_LIBRARY_NAME)
    if not path.exists():
        raise ImportError(
            f"jax_tvm_ffi: the compiled core {path} is missing; install the package with "
            "`pip install .` rather than importing it from the source tree"
        )
    module = tvm_ffi.load_module(str(path))
    _check_xla_api(module)
    # The core tells a function that runs Python code by comparing it with one made from a
    # Python callable (such functions get owned tensors and the exit guard), and learns from a
    # function of its own module how tvm_ffi stores and calls a module function's symbol (for
    # names, and to call library kernels at their symbol).
    module.set_probes(tvm_ffi.convert(lambda *args: None), module.call_probe)
    return module


def _build_info(module: tvm_ffi.Module) -> dict[str, str]:
    jaxlib_version, tvm_ffi_version, major, minor = (str(v) for v in module.build_info())
    return {
        "jaxlib": jaxlib_version,
        "apache-tvm-ffi": tvm_ffi_version,
        "xla_ffi_api": f"{major}.{minor}",
    }


def build_info() -> dict[str, str]:
    """What the core was compiled against: jaxlib, apache-tvm-ffi and the XLA FFI API version."""
    return _build_info(core())


def installed_xla_api_version() -> tuple[int, int] | None:
    """The XLA FFI API version of the installed jaxlib, read from the headers it ships.

    The headers come in the same wheel as the XLA runtime, so their version is the runtime's.
    ``None`` when the headers cannot be read (a jaxlib built without them).
    """
    header = Path(jax.ffi.include_dir()) / "xla" / "ffi" / "api" / "c_api.h"
    try:
        text = header.read_text()
    except OSError:
        return None
    found = {
        part: re.search(rf"#define\s+XLA_FFI_API_{part}\s+(\d+)", text)
        for part in ("MAJOR", "MINOR")
    }
    if found["MAJOR"] is None or found["MINOR"] is None:
        return None
    return int(found["MAJOR"].group(1)), int(found["MINOR"].group(1))


def _check_xla_api(module: tvm_ffi.Module) -> None:
    """Tells the core which XLA FFI API runs it, or refuses a jaxlib it cannot speak to.

    Within one major version the core speaks the older of its own and the runtime's minor
    version (``src/base/api_version.h``); across major versions XLA makes no promise.
    """
    runtime = installed_xla_api_version()
    if runtime is None:
        return
    built = _build_info(module)
    major = int(built["xla_ffi_api"].split(".")[0])
    if runtime[0] != major:
        raise ImportError(
            f"jax_tvm_ffi was built against jaxlib {built['jaxlib']} (XLA FFI API "
            f"{built['xla_ffi_api']}); "
            f"the installed jaxlib {jaxlib.__version__} has XLA FFI API {runtime[0]}.{runtime[1]}, "
            "a different major version. Rebuild it against the installed jaxlib: "
            "pip install --no-build-isolation --force-reinstall --no-deps jax-tvm-ffi "
            "(from a source checkout: pip install --no-build-isolation --force-reinstall "
            "--no-deps .)"
        )
    module.set_runtime_api_version(*runtime)
