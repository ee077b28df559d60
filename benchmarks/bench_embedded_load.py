"""7. Embedded kernels' load: what a program that carries its kernel costs when XLA instantiates it.

Each round compiles and runs a fresh program (a new constant, so nothing is cached) calling the
``add_scalar`` kernel of ``cpp/kernels/add_scalar_kernels.cc`` once, two ways: by name, through a
registered target, and embedded (``ffi_function(..., embed=True)``). Then the executable is
dropped and JAX's caches cleared, so that the embedded library is unloaded and the next embedded
round loads it again (a library is loaded once per digest while any executable uses it). The
difference of the two medians is what carrying the kernel costs a new program: the library's bytes
through lowering and compilation, then at instantiate decoding the payload, its SHA-256, writing
the temporary file, loading it, and the call site's binding. Wall time, reported, never checked.

Run alone::

    python benchmarks/bench_embedded_load.py
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ELEMENTS = 16


def run(kernel_library: Path, rounds: int) -> dict[str, Any]:
    """Times ``rounds`` fresh programs each way; returns the section's JSON.

    Returns:
      ``{"available": False, "why": ...}`` where this jaxlib cannot run embedded kernels; else
      ``rounds``, ``library_bytes``, ``registered_ms`` and ``embedded_ms`` (medians of compile
      plus first call), ``embedded_over_registered_ms`` (their difference) and ``loads_seen``
      (how many embedded rounds found the library unloaded before and loaded while the program
      lived: all of them, when each round really loaded it).
    """
    import jax
    import jax.numpy as jnp
    import tvm_ffi

    import jax_tvm_ffi
    from jax_tvm_ffi._embed import embedded_kernels_unsupported

    why = embedded_kernels_unsupported()
    if why is not None:
        return {"available": False, "why": why}
    module = tvm_ffi.load_module(str(kernel_library))
    target = "jax_tvm_ffi_bench.embedded_load.registered"
    spec = ["args", "rets", "attrs.attr"]
    jax_tvm_ffi.register_ffi_target(target, module.add_scalar, arg_spec=spec, platform="cpu")
    shape = jax.ShapeDtypeStruct((ELEMENTS,), jnp.float32)
    embedded = jax_tvm_ffi.ffi_function(module.add_scalar, shape, arg_spec=spec, embed=True)
    x = np.zeros(ELEMENTS, np.float32)
    loaded = jax_tvm_ffi.core().embedded_libraries_loaded

    def by_name(v: Any, c: float) -> Any:
        return jax.ffi.ffi_call(target, shape)(v, attr=np.float32(1)) + c

    def carried(v: Any, c: float) -> Any:
        return embedded(v, attr=np.float32(1)) + c

    times: dict[str, list[float]] = {"registered": [], "embedded": []}
    loads_seen = 0
    for i in range(rounds + 1):  # The first round of each warms JAX up and is not kept.
        for label, body in (("registered", by_name), ("embedded", carried)):
            before = int(loaded())
            start = time.perf_counter()
            f = jax.jit(lambda v, c=float(i), body=body: body(v, c))
            np.asarray(f(x))
            elapsed = time.perf_counter() - start
            if label == "embedded" and i > 0 and before == 0 and int(loaded()) == 1:
                loads_seen += 1
            del f
            jax.clear_caches()
            gc.collect()
            if i > 0:
                times[label].append(elapsed * 1e3)
    registered = statistics.median(times["registered"])
    carried_ms = statistics.median(times["embedded"])
    return {
        "available": True,
        "rounds": rounds,
        "library_bytes": Path(kernel_library).stat().st_size,
        "registered_ms": registered,
        "embedded_ms": carried_ms,
        "embedded_over_registered_ms": carried_ms - registered,
        "loads_seen": loads_seen,
    }


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import native_build

    artifacts = native_build.build()
    print(json.dumps(run(artifacts.kernel_library, rounds=21), indent=2))


if __name__ == "__main__":
    main()
