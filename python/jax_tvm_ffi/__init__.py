"""Call any TVM FFI function from ``jax.jit`` as an XLA FFI target.

A rewrite of ``jax-tvm-ffi`` 0.1.3 (the bridge on PyPI) with the same Python API, versioned
above it. Example::

    import jax, jax.numpy as jnp, jax_tvm_ffi, tvm_ffi

    SOURCE = r'''
    #include <tvm/ffi/container/tensor.h>
    void add_one_cpu(tvm::ffi::TensorView x, tvm::ffi::TensorView y) {
      const float* in = static_cast<const float*>(x.data_ptr());
      float* out = static_cast<float*>(y.data_ptr());
      for (int64_t i = 0; i < x.numel(); ++i) out[i] = in[i] + 1;
    }
    '''
    mod = tvm_ffi.cpp.load_inline(name="example", cpp_sources=SOURCE, functions=["add_one_cpu"])
    jax_tvm_ffi.register_ffi_target("example.add_one_cpu", mod.add_one_cpu, platform="cpu")
    x = jnp.array([1.0, 2.0, 3.0], jnp.float32)
    y = jax.ffi.ffi_call("example.add_one_cpu", jax.ShapeDtypeStruct(x.shape, x.dtype))(x)
"""

from jax_tvm_ffi._core import build_info, core
from jax_tvm_ffi._embed import (
    allow_embedded_kernels,
    embedded_kernels_allowed,
    embedded_targets,
    export_disabled_checks,
    register_embedded_targets,
)
from jax_tvm_ffi._errors import ArgSpecError, GlobalFunctionNotFoundError, PlatformTypeError
from jax_tvm_ffi._ffi_function import FfiFunction, ffi_function
from jax_tvm_ffi._registration import (
    get_last_workspace_peak,
    register_ffi_target,
    registered_count,
)
from jax_tvm_ffi._scratch import ScratchUsage, scratch_usage

__all__ = [
    "ArgSpecError",
    "FfiFunction",
    "GlobalFunctionNotFoundError",
    "PlatformTypeError",
    "ScratchUsage",
    "allow_embedded_kernels",
    "build_info",
    "embedded_kernels_allowed",
    "embedded_targets",
    "export_disabled_checks",
    "ffi_function",
    "get_last_workspace_peak",
    "register_ffi_target",
    "registered_count",
    "scratch_usage",
]
__version__ = "0.2.0"

# Loaded now, so that a jaxlib the core cannot speak to is reported at import.
core()
# Registered now, so that a process that only imports jax_tvm_ffi runs deserialized programs and
# cached executables that carry embedded kernels.
register_embedded_targets()
