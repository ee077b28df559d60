"""Worker for tests/test_embedded.py: embedded kernels in a fresh process.

Usage:
  embedded_worker.py run ARTIFACT DATA     deserialize a jax.export artifact and run it, importing
                                           only jax, numpy and jax_tvm_ffi (no kernel source, no
                                           build directory, no registration)
  embedded_worker.py cache CACHE_DIR       build the kernels and run a jitted program with JAX's
                                           persistent compilation cache on
  embedded_worker.py share                 count the embedded libraries loaded while executables
                                           live, and after they are dropped
  embedded_worker.py memory N              compile, run and drop N executables; resident memory

Each mode prints one report line (ffi_function_support.report).
"""

from __future__ import annotations

import gc
import os
import sys

import jax
import numpy as np
from ffi_function_support import report  # imports nothing of tvm_ffi

import jax_tvm_ffi


def run(artifact: str, data: str) -> None:
    import jax.export  # jax 0.6 imports this submodule only when asked to

    arrays = np.load(data)
    exported = jax.export.deserialize(bytearray(open(artifact, "rb").read()))
    call = jax.jit(exported.call)
    out = call(arrays["x"])
    report(
        platforms=list(exported.platforms),
        out=np.asarray(out).tolist(),
        registered=jax_tvm_ffi.registered_count(),  # nothing was registered by name
        loaded=int(jax_tvm_ffi.core().embedded_libraries_loaded()),  # while `call` lives
    )


def _embedded_functions() -> tuple[jax_tvm_ffi.FfiFunction, jax_tvm_ffi.FfiFunction]:
    import embedded_support

    mod = embedded_support.build(None)
    return embedded_support.functions(mod)


def cache(cache_dir: str) -> None:
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    events: list[str] = []
    jax.monitoring.register_event_listener(
        lambda event, **kwargs: events.append(event) if "compilation_cache" in event else None
    )
    affine, square = _embedded_functions()
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    f = jax.jit(lambda v: square(affine(v, alpha=3.0)))
    out = f(x)
    report(
        out=np.asarray(out).tolist(),
        hits=sum("cache_hits" in e for e in events),
        misses=sum("cache_misses" in e for e in events),
        files=sorted(os.listdir(cache_dir)),
        loaded=int(jax_tvm_ffi.core().embedded_libraries_loaded()),  # while `f` lives
    )


def share() -> None:
    affine, square = _embedded_functions()
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    counts = {"start": int(jax_tvm_ffi.core().embedded_libraries_loaded())}
    f = jax.jit(lambda v: affine(v, alpha=2.0))
    g = jax.jit(lambda v: square(affine(v, alpha=5.0)) + 1)
    outs = [np.asarray(f(x)).tolist(), np.asarray(g(x)).tolist()]
    counts["two_executables"] = int(jax_tvm_ffi.core().embedded_libraries_loaded())
    del f, g
    jax.clear_caches()
    gc.collect()
    counts["dropped"] = int(jax_tvm_ffi.core().embedded_libraries_loaded())
    h = jax.jit(lambda v: affine(v, alpha=2.0))
    outs.append(np.asarray(h(x)).tolist())
    counts["again"] = int(jax_tvm_ffi.core().embedded_libraries_loaded())
    report(counts=counts, outs=outs)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory(count: int) -> None:
    affine, _ = _embedded_functions()
    x = np.ones(4, np.float32)
    rss: dict[int, int] = {}
    loaded_while_alive = set()
    for i in range(1, count + 1):
        # A new constant each time: a new program, compiled and instantiated anew.
        compiled = jax.jit(lambda v, c=float(i): affine(v, alpha=2.0) + c).lower(x).compile()
        out = np.asarray(compiled(x))
        assert out[0] == 3.0 + i, out
        loaded_while_alive.add(int(jax_tvm_ffi.core().embedded_libraries_loaded()))
        del compiled
        if i % 100 == 0:
            jax.clear_caches()
            gc.collect()
            rss[i] = _rss_bytes()
    report(
        rss={str(k): v for k, v in rss.items()},
        loaded_while_alive=sorted(loaded_while_alive),
        loaded_at_end=int(jax_tvm_ffi.core().embedded_libraries_loaded()),
    )


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "run":
        run(*rest)
    elif mode == "cache":
        cache(*rest)
    elif mode == "share":
        share()
    elif mode == "memory":
        memory(int(rest[0]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
