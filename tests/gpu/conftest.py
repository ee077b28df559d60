"""The GPU suite's fixtures: the CUDA kernels it builds and the check that a GPU is there.

Every test under ``tests/gpu`` needs a CUDA GPU that JAX can use (the ``gpu`` platform of a CUDA
jaxlib plugin). Without one the whole directory is skipped, each test saying why; nothing is
compiled then. ``bash tests/gpu/run_on_device.sh`` runs this suite on the GPU machine.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import pytest
import tvm_ffi

GPU_DIR = Path(__file__).resolve().parent
INLINE_SOURCE = GPU_DIR / "inline_kernels.cu"
CMAKE_SOURCE_DIR = GPU_DIR / "cmake_kernels"
SCRATCH_EXAMPLE = GPU_DIR.parent.parent / "examples" / "cuda_scratch.cu"


@functools.cache
def gpu_unavailable_reason() -> str | None:
    """Why the suite cannot run here, or None when JAX has a CUDA GPU."""
    try:
        devices = jax.devices("gpu")
    except RuntimeError as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        return f"GPU suite: JAX has no GPU backend here ({first_line})"
    if not devices:
        return "GPU suite: JAX's gpu platform has no devices"
    version = str(getattr(devices[0].client, "platform_version", "")).lower()
    if "rocm" in version or "hip" in version:
        return f"GPU suite: needs a CUDA GPU, JAX's gpu platform is {version!r}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skips every test of this directory, with the reason, when there is no CUDA GPU."""
    reason = gpu_unavailable_reason()
    if reason is None:
        return
    marker = pytest.mark.skip(reason=reason)
    for item in items:
        if GPU_DIR in Path(item.path).parents:
            item.add_marker(marker)


def cuda_arch() -> str:
    """The architecture to build for: TVM_FFI_CUDA_ARCH_LIST's first entry, else the device's."""
    listed = os.environ.get("TVM_FFI_CUDA_ARCH_LIST", "").split()
    if listed:
        return listed[0].replace(".", "")
    major, minor = jax.devices("gpu")[0].compute_capability.split(".")
    return f"{major}{minor}"


def load_cuda_inline(name: str, source: Path) -> tvm_ffi.Module:
    """Builds ``source`` with tvm_ffi.cpp.load_inline(cuda_sources=...) for this GPU."""
    if "TVM_FFI_CUDA_ARCH_LIST" not in os.environ:
        arch = cuda_arch()
        os.environ["TVM_FFI_CUDA_ARCH_LIST"] = f"{arch[:-1]}.{arch[-1]}"
    return tvm_ffi.cpp.load_inline(name=name, cuda_sources=source.read_text())


@pytest.fixture(scope="session")
def inline_kernels() -> tvm_ffi.Module:
    """tests/gpu/inline_kernels.cu, built by tvm_ffi.cpp.load_inline(cuda_sources=...)."""
    return load_cuda_inline("jax_tvm_ffi_gpu_inline_kernels", INLINE_SOURCE)


@pytest.fixture(scope="session")
def scratch_example() -> tvm_ffi.Module:
    """examples/cuda_scratch.cu (``center``: device scratch memory), built the same way."""
    return load_cuda_inline("jax_tvm_ffi_gpu_cuda_scratch_example", SCRATCH_EXAMPLE)


def build_cmake_kernels(build_dir: Path, arch: str) -> Path:
    """Configures and builds tests/gpu/cmake_kernels into ``build_dir``; returns the library."""
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.fail("cmake is not on PATH: the GPU suite builds tests/gpu/cmake_kernels with it")
    configure = [
        cmake,
        "-S",
        str(CMAKE_SOURCE_DIR),
        "-B",
        str(build_dir),
        f"-DPython_EXECUTABLE={sys.executable}",
        f"-DCMAKE_CUDA_ARCHITECTURES={arch}",
        "-DCMAKE_BUILD_TYPE=Release",
    ]
    ninja = shutil.which("ninja") or str(Path(sys.executable).with_name("ninja"))
    if Path(ninja).exists():
        configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    for command in (configure, [cmake, "--build", str(build_dir)]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{result.stdout[-4000:]}{result.stderr}")
    return build_dir / "libgpu_test_kernels.so"


class CmakeKernels:
    """The CMake-built library, loaded both ways.

    Attributes:
      module: the library as a TVM FFI module (``scale``).
      library: the library loaded with ctypes (the native XLA FFI handlers).
    """

    def __init__(self, path: Path) -> None:
        self.module = tvm_ffi.load_module(str(path))
        self.library = ctypes.cdll.LoadLibrary(str(path))

    def native_handler(self, symbol: str) -> Any:
        """A native handler of the library as a capsule for jax.ffi.register_ffi_target."""
        return jax.ffi.pycapsule(getattr(self.library, symbol))


@pytest.fixture(scope="session")
def cmake_kernels(tmp_path_factory: pytest.TempPathFactory) -> CmakeKernels:
    """tests/gpu/cmake_kernels, built with CMake and nvcc for this GPU."""
    return CmakeKernels(build_cmake_kernels(tmp_path_factory.mktemp("cmake_kernels"), cuda_arch()))
