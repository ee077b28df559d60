"""How long a process takes to exit while a Python callback is still running: bridge and plain JAX.

Each case is a fresh interpreter that starts a callback sleeping ``--sleep`` seconds, waits until
it runs, prints the wall-clock time and returns from its main module, so the exit happens with
the callback still running. The parent measures from that print to the process's end, and
reports the exit code and whether the callback finished (it prints when it does).

Cases: ``pure_callback`` with the call made on a daemon thread (``jax.pure_callback`` runs its
callback on the calling thread, so the main thread cannot exit while its own call runs); the
bridge with the same daemon thread; the bridge with the call dispatched from the main thread
(XLA runs the program in the background, on its own threads). With the bridge, the daemon
thread waits in ``block_until_ready`` while XLA's thread runs the callback; CPython ends a daemon
thread that wakes up in a finalizing interpreter, and ending it inside jaxlib's C++ frames aborts
the process (exit code -6), as it does in plain JAX for a daemon thread waiting on any long
computation, no callback involved.

Usage: ``python benchmarks/exit_wait.py [--sleep 30] [--repeat 3]``. Timings are reported, never
checked.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time

CHILD = """
import sys, threading, time
import numpy as np, jax, jax.numpy as jnp
SLEEP, KIND, MODE = float(sys.argv[1]), sys.argv[2], sys.argv[3]
started = threading.Event()
calls = 0
def body(x):
    global calls
    calls += 1
    if calls > 1:  # The first call only warms up.
        started.set()
        time.sleep(SLEEP)
        print("callback finished", flush=True)
    return np.asarray(x) + 1
M = jnp.ones((256, 256), jnp.float32)
spec = jax.ShapeDtypeStruct((3,), jnp.float32)
if KIND == "pure_callback":
    call = lambda v: jax.pure_callback(body, spec, v)
else:
    import jax_tvm_ffi
    def target(x, y):
        np.from_dlpack(y)[...] = body(np.from_dlpack(x))
    jax_tvm_ffi.register_ffi_target("exit_wait.slow", target)
    call = lambda v: jax.ffi.ffi_call("exit_wait.slow", spec)(v)
# The matrix product makes the program costly enough for XLA to run it in the background.
f = jax.jit(lambda v: call(v) + (M @ M)[0, :3] * 0)
x = jnp.ones(3, jnp.float32)
f(x).block_until_ready()
if MODE == "main_thread":
    pending = f(x + 1)
else:
    threading.Thread(target=lambda: f(x + 1).block_until_ready(), daemon=True).start()
started.wait()
print(f"exit begins {time.time():.6f}", flush=True)
"""

CASES = [
    ("pure_callback", "daemon_thread"),
    ("jax_tvm_ffi", "daemon_thread"),
    ("jax_tvm_ffi", "main_thread"),
]


def run_case(kind: str, mode: str, sleep: float) -> tuple[float, int, bool]:
    """Runs one child; returns (seconds from "exit begins" to its end, exit code, finished)."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(sleep), kind, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stdout, _ = process.communicate(timeout=sleep + 120)
    ended = time.time()
    begun = [line for line in stdout.splitlines() if line.startswith("exit begins ")]
    if not begun:
        raise RuntimeError(f"{kind}/{mode}: the child did not reach its exit:\n{stdout}")
    return ended - float(begun[0].split()[-1]), process.returncode, "callback finished" in stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sleep", type=float, default=30.0, help="the callback's duration (s)")
    parser.add_argument("--repeat", type=int, default=3, help="processes per case")
    args = parser.parse_args()
    print(f"callback sleeps {args.sleep:g} s; {args.repeat} processes per case")
    print(f"{'case':<32} {'exit took (median, range)':<28} exit codes   callback finished")
    for kind, mode in CASES:
        runs = [run_case(kind, mode, args.sleep) for _ in range(args.repeat)]
        waits = [wait for wait, _, _ in runs]
        codes = sorted({code for _, code, _ in runs})
        finished = sum(done for _, _, done in runs)
        span = f"{statistics.median(waits):.2f} s ({min(waits):.2f}-{max(waits):.2f})"
        print(f"{kind + ' / ' + mode:<32} {span:<28} {codes!s:<12} {finished}/{len(runs)}")


if __name__ == "__main__":
    main()
