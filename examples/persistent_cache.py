"""JAX's persistent compilation cache with bridged kernels: a second process loads the compiled
executable from the cache instead of compiling, and runs it correctly.

A cached executable calls its kernels by target name, so the second process must register the
same targets under the same names first; an ffi_function registers when it is called (as here,
inside jax.jit), or at once with `platform=` or `.register()`.

Run: python examples/persistent_cache.py   (last line: "persistent_cache: OK")
"""

import json
import os
import subprocess
import sys
import tempfile

EPS = 1e-6
EVENTS = ("/jax/compilation_cache/cache_hits", "/jax/compilation_cache/cache_misses")


def run(cache_dir):
    """One process: turn the cache on, run a jitted program that calls a C++ kernel."""
    import jax
    import numpy as np
    import rms_norm

    import jax_tvm_ffi

    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # cache even fast ones
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    events = []
    jax.monitoring.register_event_listener(
        lambda event, **_: events.append(event) if event in EVENTS else None
    )
    norm = jax_tvm_ffi.ffi_function(
        rms_norm.module().rms_norm_fwd,
        rms_norm.shapes,
        arg_spec=rms_norm.ARG_SPEC,
        name="persistent_cache_example.rms_norm",
    )
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    y = jax.jit(lambda x: norm(x, eps=EPS)[0].sum(axis=1))(x)
    expected = (x / np.sqrt((x * x).mean(axis=1, keepdims=True) + EPS)).sum(axis=1)  # NumPy
    print(
        json.dumps(
            {
                "max_error": float(np.max(np.abs(np.asarray(y) - expected))),
                "hits": events.count(EVENTS[0]),
                "misses": events.count(EVENTS[1]),
                "entries": len(os.listdir(cache_dir)),
            }
        )
    )


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--run":
        run(sys.argv[2])
        return
    with tempfile.TemporaryDirectory() as cache_dir:
        reports = []
        for label in ("first", "second"):
            out = subprocess.run(
                [sys.executable, __file__, "--run", cache_dir],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout
            report = json.loads(out.strip().splitlines()[-1])
            reports.append(report)
            print(
                f"{label} process: {report['hits']} cache hit(s), {report['misses']} miss(es), "
                f"{report['entries']} cache entries, max error {report['max_error']:.1e}"
            )
    first, second = reports
    assert (first["hits"], first["misses"]) == (0, 1) and first["entries"] >= 1
    assert (second["hits"], second["misses"]) == (1, 0), "the second process compiled again"
    assert second["max_error"] < 1e-5
    print("persistent_cache: OK")


if __name__ == "__main__":
    main()
