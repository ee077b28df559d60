"""Worker for tests/test_ffi_function_export.py: a jitted bridged call with JAX's persistent
compilation cache on.

Usage: cache_worker.py CACHE_DIR. Reports the result, the compilation-cache hits and misses
JAX recorded, and the files in the cache directory.
"""

from __future__ import annotations

import os
import sys

import jax
import numpy as np
from ffi_function_support import export_functions, report

EVENTS = ("/jax/compilation_cache/cache_hits", "/jax/compilation_cache/cache_misses")


def main(cache_dir: str) -> None:
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    events: list[str] = []
    jax.monitoring.register_event_listener(
        lambda event, **kwargs: events.append(event) if event in EVENTS else None
    )
    rms, matvec = export_functions()
    x = np.linspace(-2, 2, 24, dtype=np.float32).reshape(4, 6)
    v = np.linspace(0, 1, 6, dtype=np.float32)
    out = jax.jit(lambda a, b: matvec(rms(a, eps=1e-6)[0], b))(x, v)
    expected = (x / np.sqrt((x * x).mean(axis=1, keepdims=True) + 1e-6)) @ v
    report(
        max_error=float(np.max(np.abs(np.asarray(out) - expected))),
        hits=events.count(EVENTS[0]),
        misses=events.count(EVENTS[1]),
        files=sorted(os.listdir(cache_dir)),
    )


if __name__ == "__main__":
    main(sys.argv[1])
