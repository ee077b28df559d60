"""Worker for tests/test_ffi_function_export.py: runs a serialized jax.export artifact.

Usage: export_worker.py ARTIFACT DATA.npz [--no-register]. A fresh process registers the
bridged targets the artifact calls (same names, same kernels), deserializes the artifact, runs
it on the inputs in DATA.npz and reports the largest difference from the expected output.
With --no-register it skips the registration and reports the error instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.export  # jax 0.6 imports this submodule only when asked to
import numpy as np
from ffi_function_support import export_functions, report


def main(artifact: str, data: str, register: bool) -> None:
    if register:
        for function in export_functions():
            function.register("cpu")
    exported = jax.export.deserialize(bytearray(Path(artifact).read_bytes()))
    arrays = np.load(data)
    try:
        out = exported.call(arrays["x"], arrays["v"])
    except Exception as error:  # noqa: BLE001 - the test asserts on the message
        report(error=f"{type(error).__name__}: {error}")
        return
    report(
        max_error=float(np.max(np.abs(np.asarray(out) - arrays["expected"]))),
        platforms=list(exported.platforms),
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--no-register" not in sys.argv[3:])
