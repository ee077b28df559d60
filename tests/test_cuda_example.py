"""The CUDA examples build with nvcc against the tvm_ffi headers, as their comments say.

Needs nvcc, not a GPU: the tests compile and load each library and register its function for
the "gpu" platform; running them needs a CUDA device and a CUDA jaxlib. (The GPU paths of the
bridge itself, stream and scratch memory, are tested in tests/cpp with a fake XLA API.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tvm_ffi

import jax_tvm_ffi

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE = EXAMPLES_DIR / "cuda_add_one.cu"
SCRATCH_EXAMPLE = EXAMPLES_DIR / "cuda_scratch.cu"


def tvm_ffi_config(flag: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tvm_ffi.config", flag], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def build_with_nvcc(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not found")
    output = tmp_path_factory.mktemp("cuda_example") / f"{source.stem}.so"
    command = [
        nvcc,
        "-shared",
        "-Xcompiler",
        "-fPIC",
        "-std=c++17",
        f"-I{tvm_ffi_config('--includedir')}",
        f"-I{tvm_ffi_config('--dlpack-includedir')}",
        str(source),
        "-o",
        str(output),
        f"-L{tvm_ffi_config('--libdir')}",
        "-ltvm_ffi",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"nvcc failed:\n{result.stderr}"
    return output


@pytest.fixture(scope="module")
def cuda_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_with_nvcc(EXAMPLE, tmp_path_factory)


@pytest.fixture(scope="module")
def cuda_scratch_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_with_nvcc(SCRATCH_EXAMPLE, tmp_path_factory)


def test_example_source_exists() -> None:
    assert EXAMPLE.is_file()


def test_nvcc_builds_the_example(cuda_library: Path) -> None:
    assert cuda_library.is_file()
    assert cuda_library.stat().st_size > 0


def test_built_example_loads_and_registers_for_gpu(cuda_library: Path, unique_name) -> None:
    module = tvm_ffi.load_module(str(cuda_library))
    assert isinstance(module.add_one, tvm_ffi.Function)
    before = jax_tvm_ffi.registered_count()
    jax_tvm_ffi.register_ffi_target(
        unique_name("cuda_add_one"), module.add_one, ["args", "rets", "ctx.stream"], platform="gpu"
    )
    assert jax_tvm_ffi.registered_count() == before + 1


def test_scratch_example_loads_and_registers_for_gpu(
    cuda_scratch_library: Path, unique_name
) -> None:
    module = tvm_ffi.load_module(str(cuda_scratch_library))
    assert isinstance(module.center, tvm_ffi.Function)
    name = unique_name("cuda_center")
    jax_tvm_ffi.register_ffi_target(name, module.center, platform="gpu")
    assert jax_tvm_ffi.scratch_usage(name, platform="gpu") == jax_tvm_ffi.ScratchUsage(
        0, 0, 0, 0, 0
    )
