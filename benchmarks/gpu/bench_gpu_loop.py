"""GPU loop benchmark: ns per tiny kernel call in a jitted ``lax.fori_loop``, bridge vs native.

Each iteration is one custom call ``y = x + 1`` on an f32[16] buffer, through (a) a native XLA
FFI CUDA handler (``xla::ffi::Ffi::Bind``) and (b) the bridge calling a TVM FFI function that
makes the same launch on ``TVMFFIEnvGetStream``; both come from ``gpu_loop_kernels.cu``, built
here with nvcc. XLA's own add in the same loop is the baseline with no custom call. The loops run
twice, in two fresh processes: with CUDA graphs off (``--xla_gpu_enable_command_buffer=``) and on
(custom calls captured into command buffers: the native handler with the command-buffer trait,
the bridge with ``allow_cuda_graph=True``). Each loop's result is checked; timings are reported,
never checked.

    python benchmarks/gpu/bench_gpu_loop.py --json results/gpu_bench.json

Without a CUDA GPU it still builds the kernels (when nvcc is there), writes ``{"skipped": why}``
and exits 0. Exit status 1: a build, a run or a loop's result failed.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "gpu_loop_kernels.cu"
ELEMENTS = 16
GRAPH_FLAGS = {
    "off": "--xla_gpu_enable_command_buffer=",
    "on": "--xla_gpu_enable_command_buffer=FUSION,CUSTOM_CALL --xla_gpu_graph_min_graph_size=1",
}


def _python_config(flag: str) -> str:
    command = [sys.executable, "-m", "tvm_ffi.config", flag]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def _arch() -> str:
    """TVM_FFI_CUDA_ARCH_LIST's first entry (e.g. 9.0 -> 90), else 90 (the H200)."""
    listed = os.environ.get("TVM_FFI_CUDA_ARCH_LIST", "").split()
    return listed[0].replace(".", "") if listed else "90"


def build(build_dir: Path) -> Path:
    """Compiles gpu_loop_kernels.cu with nvcc into ``build_dir``; returns the library."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise RuntimeError("nvcc is not on PATH: the GPU benchmark compiles its kernels with it")
    import jax.ffi

    build_dir.mkdir(parents=True, exist_ok=True)
    output = build_dir / "libgpu_loop_kernels.so"
    arch = _arch()
    command = [
        nvcc, "-shared", "-Xcompiler", "-fPIC", "-std=c++17", "-O2",
        f"-gencode=arch=compute_{arch},code=sm_{arch}",
        f"-I{_python_config('--includedir')}", f"-I{_python_config('--dlpack-includedir')}",
        f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", str(output),
        f"-L{_python_config('--libdir')}", "-ltvm_ffi",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-4000:]}")
    return output


def gpu_unavailable_reason() -> str | None:
    import jax

    try:
        jax.devices("gpu")
    except RuntimeError as error:
        return f"no GPU backend in JAX ({str(error).splitlines()[0]})"
    return None


def measure(library_path: Path, graphs: str, iterations: int, repeats: int) -> dict[str, Any]:
    """In this process (XLA_FLAGS already set): times the three loops, median ns per iteration."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import tvm_ffi

    import jax_tvm_ffi

    library = ctypes.cdll.LoadLibrary(str(library_path))
    symbol = "JaxTvmFfiGpuBenchAddOneNative" + ("Graph" if graphs == "on" else "")
    jax.ffi.register_ffi_target(
        "gpu_bench.native", jax.ffi.pycapsule(getattr(library, symbol)), platform="CUDA"
    )
    module = tvm_ffi.load_module(str(library_path))
    jax_tvm_ffi.register_ffi_target(
        "gpu_bench.bridge", module.add_one, platform="gpu", allow_cuda_graph=graphs == "on"
    )

    def loop(target: str | None) -> Any:
        def step(_: Any, y: jax.Array) -> jax.Array:
            if target is None:
                return y + 1.0
            return jax.ffi.ffi_call(target, jax.ShapeDtypeStruct(y.shape, y.dtype))(y)

        return jax.jit(lambda x: jax.lax.fori_loop(0, iterations, step, x))

    x = jnp.arange(ELEMENTS, dtype=jnp.float32)
    expected = np.arange(ELEMENTS, dtype=np.float32) + iterations
    loops = {"native": loop("gpu_bench.native"), "bridge": loop("gpu_bench.bridge"),
             "xla_add": loop(None)}  # fmt: skip
    for name, function in loops.items():
        got = np.asarray(function(x))  # compile, warm up, check
        if not np.array_equal(got, expected):
            raise RuntimeError(f"{name} loop computed {got[:4]}..., expected {expected[:4]}...")
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(repeats):  # interleaved, so drift affects every loop alike
        for name, function in loops.items():
            start = time.perf_counter()
            function(x).block_until_ready()
            times[name].append((time.perf_counter() - start) * 1e9 / iterations)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "graphs": graphs,
        "iterations": iterations,
        "repeats": repeats,
        "native_ns": medians["native"],
        "bridge_ns": medians["bridge"],
        "xla_add_ns": medians["xla_add"],
        "ratio": medians["bridge"] / medians["native"],
        "bridge_minus_native_ns": medians["bridge"] - medians["native"],
        "all_ns": times,
    }


def run_child(library: Path, graphs: str, iterations: int, repeats: int) -> dict[str, Any]:
    env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {GRAPH_FLAGS[graphs]}")
    command = [sys.executable, __file__, "--child", str(library), "--graphs", graphs,
               "--iterations", str(iterations), "--repeats", str(repeats)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"the graphs={graphs} run failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def versions() -> dict[str, str]:
    import jax
    import jaxlib
    import tvm_ffi

    import jax_tvm_ffi

    return {"python": platform.python_version(), "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "tvm_ffi": tvm_ffi.__version__,
            "jax_tvm_ffi": jax_tvm_ffi.__version__,
            "jax_tvm_ffi_build": jax_tvm_ffi.build_info()}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--build-dir", type=Path, default=HERE.parent / "build" / "gpu")
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--graphs", choices=sorted(GRAPH_FLAGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.graphs, args.iterations, args.repeats)))
        return 0

    results: dict[str, Any] = {"versions": versions(), "elements": ELEMENTS}
    status = 0
    try:
        library = build(args.build_dir)
        results["library"] = str(library)
        reason = gpu_unavailable_reason()
        if reason is not None:
            results["skipped"] = reason
            print(f"GPU benchmark skipped: {reason} (the kernels were built: {library})")
        else:
            import jax

            results["gpu"] = jax.devices("gpu")[0].device_kind
            for graphs in ("off", "on"):
                results[f"graphs_{graphs}"] = run_child(
                    library, graphs, args.iterations, args.repeats
                )
            header = ("CUDA graphs", "native ns", "bridge ns", "ratio", "XLA add ns")
            print(f"{header[0]:<12}{header[1]:>12}{header[2]:>12}{header[3]:>8}{header[4]:>12}")
            for graphs in ("off", "on"):
                r = results[f"graphs_{graphs}"]
                print(f"{graphs:<12}{r['native_ns']:>12.1f}{r['bridge_ns']:>12.1f}"
                      f"{r['ratio']:>8.3f}{r['xla_add_ns']:>12.1f}")  # fmt: skip
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        results["error"] = str(error)
        print(f"GPU benchmark failed: {error}", file=sys.stderr)
        status = 1
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
