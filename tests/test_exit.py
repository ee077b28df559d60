"""Process exit: a program that used bridged C++ and Python targets always ends cleanly.

Each case is a fresh interpreter that registers a C++ kernel and a Python callback, runs them,
and then ends: normally, by ``sys.exit`` in the code calling the targets, through an uncaught
exception, from inside a callback, or with threads still calling targets. Computations are often
still queued in XLA when the interpreter starts to shut down (JAX dispatches asynchronously), so
a Python callback may be called while the interpreter finalizes. Each process must exit by itself
within the timeout, with the exit code Python gives for that ending and no sign of a crash.
The processes run side by side to keep the suite short.

Python targets are refused only after every atexit handler has run, so handlers registered before
``import jax_tvm_ffi`` (which atexit runs after ours) can still call them; and exit waits only
briefly for a callback that is still running (plain JAX does not wait at all; measured by
``benchmarks/exit_wait.py``), so one that never returns does not hold the process.

Not covered: daemon threads still inside a JAX call when the interpreter finalizes. CPython 3.11
ends such a thread where it stands, and unwinding it through XLA's C++ frames aborts the process
with plain JAX code too, no bridged target involved.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import pytest
import tvm_ffi
from subprocess_util import PREAMBLE, assert_exited, run_python_many

SETUP = """
def slow_add_one(x, y):
    time.sleep(0.05)
    np.from_dlpack(y)[...] = np.from_dlpack(x) + 1

jax_tvm_ffi.register_ffi_target("exit.cpp", kernels.add_one_f32)
jax_tvm_ffi.register_ffi_target("exit.py", slow_add_one)
program = jax.jit(lambda v: ffi("exit.py", ffi("exit.cpp", v)))
assert np.asarray(program(X)).tolist() == [3.0, 4.0, 5.0]
# XLA runs a cheap program (a custom call alone) on the calling thread; the matrix product makes
# this one costly enough to be run later, on XLA's threads, so calls of it return at once.
M = jnp.ones((128, 128), jnp.float32)
background = jax.jit(lambda v: ffi("exit.py", v) + (M @ M)[0, :3] * 0)
assert np.asarray(background(X)).tolist() == [2.0, 3.0, 4.0]

def dispatch(calls):
    results = [background(X + i) for i in range(calls)]
    assert not results[-1].is_ready(), "the calls did not run in the background"
    return results
"""

# Leaves 20 calls of the slow callback (a second of work) queued in XLA.
PENDING = """
pending = dispatch(20)
"""

# name: (script after SETUP, expected exit code, texts stdout or stderr must contain)
CASES = {
    "normal": ("print('done', np.asarray(program(X)).tolist())", 0, ["done [3.0, 4.0, 5.0]"]),
    "normal_with_calls_pending": (PENDING + "print('leaving')", 0, ["leaving"]),
    "sys_exit_in_the_caller": (
        "results = []\ndef main():\n    results.extend(dispatch(20))\n    sys.exit(7)\nmain()",
        7,
        [],
    ),
    "uncaught_exception": (PENDING + "raise ValueError('boom')", 1, ["ValueError: boom"]),
    "sys_exit_inside_a_callback": (
        "jax_tvm_ffi.register_ffi_target('exit.quit', lambda x, y: sys.exit(5))\n"
        "np.asarray(ffi('exit.quit'))",
        1,
        # jax 0.6's JaxRuntimeError is jaxlib's XlaRuntimeError, and tracebacks say so.
        [jax.errors.JaxRuntimeError.__name__, "jax_tvm_ffi target 'exit.quit'"],
    ),
    "threads_still_calling": (
        """
def work(index):
    ok = 0
    for i in range(40):
        x = jnp.full((4,), index * 100 + i, jnp.float32)
        assert np.asarray(program(x)).tolist() == [index * 100 + i + 2.0] * 4
        ok += 1
    print(f"thread {index}: {ok} ok", flush=True)

for index in range(4):
    threading.Thread(target=work, args=(index,)).start()
print("main thread done", flush=True)
""",
        0,
        ["main thread done"] + [f"thread {index}: 40 ok" for index in range(4)],
    ),
    # The callback that runs at exit never finishes by itself: exit must not wait for it, and the
    # calls queued behind it are cancelled without running.
    "exit_while_a_callback_blocks": (
        """
release = threading.Event()
def blocks(x, y):
    print("callback entered", flush=True)
    release.wait()
    print("callback left", flush=True)
jax_tvm_ffi.register_ffi_target("exit.blocks", blocks)
stuck = jax.jit(lambda v: ffi("exit.blocks", v) + (M @ M)[0, :3] * 0)
pending = [stuck(X + i) for i in range(5)]
while not jax_tvm_ffi._registration.core().python_calls_in_flight():
    time.sleep(0.001)
print("leaving", flush=True)
""",
        0,
        ["callback entered", "leaving"],
    ),
    "idle_daemon_threads": (
        """
stop = threading.Event()
def work():
    np.asarray(program(X))
    stop.wait()
for _ in range(4):
    threading.Thread(target=work, daemon=True).start()
time.sleep(0.5)
"""
        + PENDING,
        0,
        [],
    ),
}


@pytest.fixture(scope="module")
def finished(kernels: tvm_ffi.Module) -> dict[str, subprocess.CompletedProcess[str]]:
    return run_python_many({name: SETUP + script for name, (script, _, _) in CASES.items()})


@pytest.mark.parametrize("case", list(CASES))
def test_process_exits_cleanly(
    finished: dict[str, subprocess.CompletedProcess[str]], case: str
) -> None:
    _, code, texts = CASES[case]
    result = finished[case]
    assert_exited(result, code)
    for text in texts:
        assert text in result.stdout + result.stderr, result.stdout + result.stderr


def test_exit_does_not_wait_for_a_callback_that_never_finishes(
    finished: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = finished["exit_while_a_callback_blocks"]
    assert result.stdout.count("callback entered") == 1, result.stdout
    assert "callback left" not in result.stdout


# atexit runs handlers last-registered first, so these run after every handler of JAX and of
# jax_tvm_ffi. Each calls a Python target and a C++ target, inside and outside jax.jit, which
# plain jax.pure_callback supports there too.
EARLY_EXIT_HANDLERS = """
import atexit
def early_handler(tag):
    import jax, numpy as np, jax_tvm_ffi
    x = jax.numpy.array([1.0, 2.0, 3.0], jax.numpy.float32)
    call = lambda name, v: jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(v.shape, v.dtype))(v)
    eager = np.asarray(call("exit.py", call("exit.cpp", x))).tolist()
    jitted = np.asarray(jax.jit(lambda v: call("exit.py", v))(x)).tolist()
    pure = np.asarray(jax.pure_callback(lambda v: np.asarray(v) + 1, x, x)).tolist()
    print(tag, eager, jitted, pure, flush=True)
atexit.register(early_handler, "before import jax_tvm_ffi")
"""


def test_atexit_handlers_registered_before_the_import_can_call_targets(
    kernels: tvm_ffi.Module,
) -> None:
    # The handler is registered before the preamble imports JAX and jax_tvm_ffi.
    code = EARLY_EXIT_HANDLERS + PREAMBLE + textwrap.dedent(SETUP) + PENDING
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert_exited(result, 0)
    expected = "before import jax_tvm_ffi [3.0, 4.0, 5.0] [2.0, 3.0, 4.0] [2.0, 3.0, 4.0]"
    assert expected in result.stdout, result.stdout + result.stderr
