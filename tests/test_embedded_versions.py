"""Embedded kernels on a jaxlib older than the XLA headers the core was built against.

The core speaks XLA's call-site state API in the layout of its headers; an older XLA would read
that layout wrongly and crash, so such an installation refuses embedded kernels, saying why, at
``ffi_function`` time. The version matrix's built-new-run-oldest and built-oldest-run-new cells
are such installations;
everywhere else embedded kernels are supported and tests/test_embedded.py runs.
"""

from __future__ import annotations

import jax
import pytest

import jax_tvm_ffi
from jax_tvm_ffi._core import build_info, core, installed_xla_api_version
from jax_tvm_ffi._embed import embedded_kernels_unsupported


def test_support_follows_the_running_api_version() -> None:
    layout = int(core().embedded_state_api_minor())
    running = installed_xla_api_version()
    assert 1 <= layout <= int(build_info()["xla_ffi_api"].split(".")[1])
    why = embedded_kernels_unsupported()
    if running is None or (running[1] >= layout and (layout > 1 or running[1] == 1)):
        assert why is None
    else:
        assert why is not None and "rebuild jax_tvm_ffi" in why


def test_an_older_jaxlib_refuses_embed_true_saying_why() -> None:
    why = embedded_kernels_unsupported()
    if why is None:
        pytest.skip("this installation runs embedded kernels (tests/test_embedded.py)")
    function = core().build_info  # a function a library exports
    with pytest.raises(RuntimeError, match="rebuild jax_tvm_ffi against the installed jaxlib"):
        jax_tvm_ffi.ffi_function(function, jax.ShapeDtypeStruct((1,), "float32"), embed=True)
