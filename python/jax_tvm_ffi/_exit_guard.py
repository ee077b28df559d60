"""Stops XLA's threads from entering Python once the interpreter starts to finalize.

Computations still queued in XLA run on XLA's threads while the interpreter exits; a thread that
enters a finalizing interpreter is ended by it mid-call, which aborts the process. The core
refuses calls of Python-backed targets once told to (``BlockPythonCalls`` in ``target.h``).
"""

from __future__ import annotations

import atexit
import time

from jax_tvm_ffi._core import core

# How long exit waits for calls of Python targets that are already running. A call still running
# when the interpreter finalizes ends its thread where it stands when it next takes the GIL, as
# with jax.pure_callback, so the wait only lets calls about to finish finish; plain JAX does not
# wait at all, and a longer wait would only delay the exit.
_EXIT_WAIT_SECONDS = 0.1


def _block_python_calls_at_exit() -> None:
    """Stops XLA's threads from entering Python before the interpreter finalizes.

    Calls still queued in XLA fail without running their Python function; calls already running
    are waited for, briefly (the sleep releases the GIL they need to finish).
    """
    if core.cache_info().currsize == 0:
        return  # The core was never loaded: no target was registered.
    lib = core()
    lib.block_python_calls()
    deadline = time.monotonic() + _EXIT_WAIT_SECONDS
    while lib.python_calls_in_flight() and time.monotonic() < deadline:
        time.sleep(0.001)


class _AfterAllExitHandlers:
    """Registered with atexit, which releases it once every atexit handler has run.

    CPython drops its references to the registered callables only after calling all of them and
    before it starts finalizing, so this object's ``__del__`` is the last Python code to run with
    the interpreter intact. Blocking Python targets there, rather than in an atexit handler of
    our own, lets every atexit handler call them, also those registered before this module was
    imported (atexit runs handlers last-registered first).
    """

    def __call__(self) -> None:
        pass  # The work happens on release, in __del__.

    def __del__(self) -> None:
        _block_python_calls_at_exit()


atexit.register(_AfterAllExitHandlers())
