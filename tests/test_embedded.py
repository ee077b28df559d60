"""Kernels embedded in the program (``ffi_function(..., embed=True)``): the custom call carries
the kernel's library, so a fresh process with only jax and jax_tvm_ffi runs an exported program,
the persistent cache works, and bad payloads fail with clear errors (in subprocesses: a loader
bug could end the process)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import embedded_support
import jax
import jax.export  # jax 0.6 imports this submodule only when asked to
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi
from ffi_function_support import (
    RMS_SPEC,
    kernels,
    rms_norm_shapes,
    run_worker,
)
from subprocess_util import assert_exited, run_python_many

import jax_tvm_ffi
from jax_tvm_ffi._embed import PAYLOAD_PREFIX, embedded_kernels_unsupported, payload_attributes
from jax_tvm_ffi._registration import make_registration

# A core built against newer XLA headers than the installed jaxlib's (a version-matrix cell)
# refuses embedded kernels with a clear error; tests/test_embedded_versions.py checks it.
_UNSUPPORTED = embedded_kernels_unsupported()
pytestmark = pytest.mark.skipif(_UNSUPPORTED is not None, reason=_UNSUPPORTED or "")

EMBEDDED = "jax_tvm_ffi.embedded"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tvm_ffi.Module:
    """The kernels of tests/data/embedded_kernels.cc, built in a directory of the test's own."""
    return embedded_support.build(str(tmp_path_factory.mktemp("embedded_build")))


def _rms_pair(**options: object) -> tuple[jax_tvm_ffi.FfiFunction, jax_tvm_ffi.FfiFunction]:
    mod = kernels()
    registered = jax_tvm_ffi.ffi_function(
        mod.rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC, **options
    )
    embedded = jax_tvm_ffi.ffi_function(
        mod.rms_norm_fwd, rms_norm_shapes, arg_spec=RMS_SPEC, embed=True, **options
    )
    return registered, embedded


def _x(*shape: int) -> np.ndarray:
    return np.random.default_rng(3).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Same results as the registered path.


def test_eager_jit_and_vmap_match_the_registered_path() -> None:
    registered, embedded = _rms_pair()
    assert embedded.embedded and not registered.embedded
    x = _x(3, 5)
    for transform in (lambda f: f, jax.jit, lambda f: jax.vmap(f, in_axes=0)):

        def call(f: jax_tvm_ffi.FfiFunction, transform=transform) -> list[np.ndarray]:
            return [np.asarray(a) for a in transform(lambda v: f(v, eps=1e-3))(x)]

        for got, want in zip(call(embedded), call(registered), strict=True):
            np.testing.assert_array_equal(got, want)


def test_call_sites_of_other_shapes_in_one_program_each_pack_their_own() -> None:
    # Each call site keeps the packing of its first call (its plan); two shapes, two plans.
    registered, embedded = _rms_pair()

    def two_sites(f: jax_tvm_ffi.FfiFunction) -> Any:
        return jax.jit(lambda a, b: (f(a, eps=1e-3), f(b, eps=1e-2)))

    a, b = _x(3, 5), _x(2, 7)
    for _ in range(3):
        got, want = two_sites(embedded)(a, b), two_sites(registered)(a, b)
        for got_site, want_site in zip(got, want, strict=True):
            for g, w in zip(got_site, want_site, strict=True):
                np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def test_owned_tensors_take_the_general_path_with_the_same_results() -> None:
    # Owned tensors get no plan: every call decodes its frame, as a registered target's does.
    registered, embedded = _rms_pair(pass_owned_tensor=True)
    x = _x(4, 6)
    for got, want in zip(
        jax.jit(lambda v: embedded(v, eps=1e-3))(x),
        jax.jit(lambda v: registered(v, eps=1e-3))(x),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_an_embedded_call_registers_nothing_and_names_the_generic_target() -> None:
    before = jax_tvm_ffi.registered_count()
    _, embedded = _rms_pair(name="embedded_test.rms")
    x = _x(2, 4)
    hlo = jax.jit(lambda v: embedded(v, eps=1e-6)).lower(x).as_text()
    assert f"@{EMBEDDED}(" in hlo
    assert '"!jax_tvm_ffi.name" = "embedded_test.rms"' in hlo
    jax.block_until_ready(embedded(x, eps=1e-6))
    assert jax_tvm_ffi.registered_count() == before
    assert embedded.target_name == EMBEDDED
    assert embedded.register("cpu") == EMBEDDED
    assert "embedded" in repr(embedded) and "embedded_test.rms" in repr(embedded)


def test_allow_cuda_graph_calls_the_cuda_graph_target(built: tvm_ffi.Module) -> None:
    square = jax_tvm_ffi.ffi_function(built.square, lambda x: x, embed=True, allow_cuda_graph=True)
    assert square.target_name == "jax_tvm_ffi.embedded_cuda_graph"
    assert square.target_name in jax_tvm_ffi.embedded_targets()
    x = _x(6)
    np.testing.assert_array_equal(jax.jit(square)(x), x * x)


def test_kernel_errors_name_the_function() -> None:
    _, embedded = _rms_pair(name="embedded_test.rms_error")
    with pytest.raises(Exception, match="float32 or float64") as caught:
        jax.block_until_ready(embedded(np.ones((2, 3), np.int32), eps=1e-6))
    assert "embedded_test.rms_error" in str(caught.value)


def test_workspace_and_check_modes_travel_in_the_options(built: tvm_ffi.Module) -> None:
    square = jax_tvm_ffi.ffi_function(
        built.square, lambda x: x, embed=True, workspace_bytes=256, check=True
    )
    x = _x(5)
    np.testing.assert_array_equal(jax.jit(square)(x), x * x)
    options = square._call_attributes("cpu", {})[PAYLOAD_PREFIX + "options"]
    assert "last_result_is_workspace=1\n" in options and "check=3\n" in options


def test_the_payload_carries_the_library_digest_spec_and_options(built: tvm_ffi.Module) -> None:
    registration = make_registration(
        "test",
        "embedded_test.payload",
        built.affine,
        embedded_support.AFFINE_SPEC,
        allow_cuda_graph=True,
        pass_owned_tensor=False,
        last_result_is_workspace=False,
        check=False,
        input_layouts=((0, 1), ()),
        output_layouts=((),),
    )
    affine, _ = embedded_support.functions(built)
    library = affine._embedded
    payload = payload_attributes(library, registration, "cuda")
    data = Path(library.path).read_bytes()
    assert list(payload) == [
        PAYLOAD_PREFIX + key
        for key in ("version", "name", "function", "library", "digest", "arg_spec", "options")
    ]
    assert payload[PAYLOAD_PREFIX + "version"] == 1
    assert payload[PAYLOAD_PREFIX + "version"].dtype == np.int64
    assert payload[PAYLOAD_PREFIX + "name"] == "embedded_test.payload"
    assert payload[PAYLOAD_PREFIX + "function"] == "affine"
    assert payload[PAYLOAD_PREFIX + "library"].dtype == np.uint8
    assert payload[PAYLOAD_PREFIX + "library"].tobytes() == data
    assert payload[PAYLOAD_PREFIX + "digest"] == hashlib.sha256(data).hexdigest()
    assert payload[PAYLOAD_PREFIX + "arg_spec"] == "args\nrets\nattrs.alpha"
    assert payload[PAYLOAD_PREFIX + "options"] == (
        "platform=cuda\nallow_cuda_graph=1\npass_owned_tensor=0\nlast_result_is_workspace=0\n"
        "check=0\ninput_layouts=0,1;\noutput_layouts=\n"
    )
    # No arg spec: the default, spelled out.
    square = jax_tvm_ffi.ffi_function(built.square, lambda x: x, embed=True)
    assert square._call_attributes("cpu", {})[PAYLOAD_PREFIX + "arg_spec"] == "args\nrets"


# ---------------------------------------------------------------------------------------------
# What cannot be embedded: refused at ffi_function time, saying why.


def test_a_python_callable_is_refused() -> None:
    def add_one(x, y):
        np.from_dlpack(y)[...] = np.from_dlpack(x) + 1

    with pytest.raises(TypeError, match="Python callable.*no library"):
        jax_tvm_ffi.ffi_function(add_one, lambda x: x, embed=True)


def test_functions_without_a_library_are_refused() -> None:
    made = tvm_ffi.convert(lambda x, y: None)
    with pytest.raises(ValueError, match="no library symbol"):
        jax_tvm_ffi.ffi_function(made, lambda x: x, embed=True)
    tvm_ffi.register_global_func("embedded_test.global", lambda x, y: None, override=True)
    with pytest.raises(ValueError, match="global function 'embedded_test.global'.*no library"):
        jax_tvm_ffi.ffi_function("embedded_test.global", lambda x: x, embed=True)


def _source_exporting_square(directory: Path) -> Path:
    """tests/data/embedded_kernels.cc with its square exported as square_fn, for builds by hand."""
    source = directory / "kernels.cc"
    source.write_text(
        (embedded_support.DATA_DIR / "embedded_kernels.cc").read_text()
        + "\n#include <tvm/ffi/function.h>\nTVM_FFI_DLL_EXPORT_TYPED_FUNC(square_fn, square);\n"
    )
    return source


def test_an_orcjit_function_is_refused_saying_why(tmp_path: Path) -> None:
    """Objects linked in memory by ORC JIT have no library file: not embeddable (yet)."""
    orcjit = pytest.importorskip("tvm_ffi_orcjit", reason="the orcjit extra is not installed")
    includes = [tvm_ffi.libinfo.find_include_path(), tvm_ffi.libinfo.find_dlpack_include_path()]
    source = _source_exporting_square(tmp_path)
    obj = tmp_path / "kernel.o"
    cxx = os.environ.get("CXX", "g++")
    compiled = subprocess.run(
        [cxx, "-std=c++17", "-O2", "-fPIC", "-c", str(source), "-o", str(obj)]
        + [f"-I{path}" for path in includes],
        capture_output=True,
        text=True,
    )
    assert compiled.returncode == 0, compiled.stderr
    mod = orcjit.default_session().load_module(obj, cxx=cxx)
    with pytest.raises(ValueError, match="no library symbol.*ORC JIT"):
        jax_tvm_ffi.ffi_function(mod.square_fn, lambda x: x, embed=True)


def test_a_library_built_by_cpp_build_and_loaded_by_load_module(tmp_path: Path) -> None:
    source = _source_exporting_square(tmp_path)
    path = tvm_ffi.cpp.build(
        "jax_tvm_ffi_embedded_built", cpp_files=[str(source)], build_directory=str(tmp_path / "b")
    )
    mod = tvm_ffi.load_module(path)
    square = jax_tvm_ffi.ffi_function(mod.square_fn, lambda x: x, embed=True)
    x = _x(7)
    np.testing.assert_array_equal(jax.jit(square)(x), x * x)
    assert Path(square._embedded.path).samefile(path)
    assert square._embedded.function == "square_fn"


def test_a_deleted_library_file_is_refused(tmp_path: Path) -> None:
    mod = embedded_support.build(str(tmp_path / "build"))
    shutil.rmtree(tmp_path / "build")
    with pytest.raises(ValueError, match="cannot be read.*build directory"):
        jax_tvm_ffi.ffi_function(mod.square, lambda x: x, embed=True)


def test_bad_options_are_refused(built: tvm_ffi.Module) -> None:
    with pytest.raises(TypeError, match="embed must be a bool"):
        jax_tvm_ffi.ffi_function(built.square, lambda x: x, embed=1)
    with pytest.raises(ValueError, match="batch_partitionable"):
        jax_tvm_ffi.ffi_function(built.square, lambda x: x, embed=True, batch_partitionable=True)
    square = jax_tvm_ffi.ffi_function(built.square, lambda x: x, embed=True)
    with pytest.raises(TypeError, match="belong to the embedded kernel's payload"):
        square(_x(3), **{PAYLOAD_PREFIX + "digest": "0"})


# ---------------------------------------------------------------------------------------------
# Bad payloads and the trust switch: each a clear error, in a process of its own.

# Builds the payload of an embedded square (tests/data/embedded_kernels.cc), edits it as EDIT
# says, calls the generic target with it and prints the outcome.
_BAD_PAYLOAD = """
sys.path.insert(0, TESTS_DIR)
import embedded_support
mod = embedded_support.build(None)
f = jax_tvm_ffi.ffi_function(mod.square, lambda x: x, embed=True, name="bad.square")
P = "!jax_tvm_ffi."
attrs = dict(f._call_attributes("cpu", {}))
EDIT
try:
    out = jax.ffi.ffi_call("jax_tvm_ffi.embedded", jax.ShapeDtypeStruct(X.shape, X.dtype))(
        X, **attrs)
    print("RESULT", np.asarray(out).tolist())
except Exception as error:
    print("ERROR", type(error).__name__, str(error).replace(chr(10), " "))
"""

_NOT_ELF = """
import hashlib
attrs[P + "library"] = np.frombuffer(b"not an elf", np.uint8)
attrs[P + "digest"] = hashlib.sha256(b"not an elf").hexdigest()
"""

BAD_PAYLOADS = {
    "digest": ('attrs[P + "digest"] = "0" * 64', ["digest"]),
    "not_a_library": (
        _NOT_ELF
        + '\nimport hashlib; attrs[P + "digest"] = hashlib.sha256(b"not an elf").hexdigest()',
        ["load"],
    ),
    "missing_function": ('attrs[P + "function"] = "no_such_kernel"', ["no_such_kernel"]),
    "version": ('attrs[P + "version"] = np.int64(999)', ["999", "version 1"]),
}


def _bad_payload(edit: str) -> str:
    return _BAD_PAYLOAD.replace("TESTS_DIR", repr(str(Path(__file__).parent))).replace("EDIT", edit)


def test_bad_payloads_fail_with_clear_errors() -> None:
    results = run_python_many(
        {case: _bad_payload(edit) for case, (edit, _) in BAD_PAYLOADS.items()}
    )
    for case, (_, words) in BAD_PAYLOADS.items():
        result = results[case]
        assert_exited(result)
        assert "ERROR" in result.stdout, (case, result.stdout)
        message = result.stdout.split("ERROR", 1)[1]
        assert "bad.square" in message, (case, message)
        for word in words:
            assert word in message, (case, word, message)


def test_embedding_a_library_this_process_has_loaded_with_global_functions() -> None:
    """tests/data/test_kernels.cc registers a global function when it loads (a static init
    block); the embedded copy of the library must not register it again and end the process."""
    code = """
f = jax_tvm_ffi.ffi_function(kernels.add_one_f32, lambda x: x, embed=True, name="twice.add_one")
try:
    print("RESULT", np.asarray(jax.jit(f)(X)).tolist())
except Exception as error:
    print("ERROR", type(error).__name__, str(error).replace(chr(10), " "))
"""
    result = run_python_many({"twice": code})["twice"]
    assert_exited(result)
    assert "RESULT [2.0, 3.0, 4.0]" in result.stdout or "twice.add_one" in result.stdout, (
        result.stdout
    )


_REFUSED = """
assert not jax_tvm_ffi.embedded_kernels_allowed()
f = jax_tvm_ffi.ffi_function(kernels.add_one_f32, lambda x: x, embed=True, name="refused.add_one")
try:
    print("RESULT", np.asarray(f(X)).tolist())
except Exception as error:
    print("ERROR", type(error).__name__, str(error).replace(chr(10), " "))
registered = jax_tvm_ffi.ffi_function(kernels.add_one_f32, lambda x: x)
print("REGISTERED", np.asarray(registered(X)).tolist())
"""


def test_the_environment_variable_refuses_embedded_kernels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JAX_TVM_FFI_REFUSE_EMBEDDED_KERNELS", "1")
    result = run_python_many({"refused": _REFUSED})["refused"]
    assert_exited(result)
    assert "ERROR" in result.stdout, result.stdout
    message = result.stdout.split("ERROR", 1)[1].split("REGISTERED")[0]
    assert "embedded kernel" in message and "refused" in message, message
    assert "REGISTERED [2.0, 3.0, 4.0]" in result.stdout  # registered targets are not affected


def test_the_api_switch_refuses_embedded_kernels(built: tvm_ffi.Module) -> None:
    x = _x(4)
    before = jax.jit(lambda v: embedded_support.functions(built)[1](v))
    np.testing.assert_array_equal(before(x), x * x)
    assert jax_tvm_ffi.embedded_kernels_allowed()
    jax_tvm_ffi.allow_embedded_kernels(False)
    try:
        assert not jax_tvm_ffi.embedded_kernels_allowed()
        affine, _ = embedded_support.functions(built)
        with pytest.raises(Exception, match="embedded kernel.*refused|refused.*embedded kernel"):
            jax.block_until_ready(jax.jit(lambda v: affine(v, alpha=7.0) - 1)(x))
        np.testing.assert_array_equal(before(x), x * x)  # an executable made before still runs
    finally:
        jax_tvm_ffi.allow_embedded_kernels(True)
    with pytest.raises(TypeError, match="must be a bool"):
        jax_tvm_ffi.allow_embedded_kernels(0)
    affine, _ = embedded_support.functions(built)
    np.testing.assert_array_equal(
        jax.jit(lambda v: affine(v, alpha=7.0) - 1)(x), embedded_support.affine_reference(x, 7) - 1
    )


# ---------------------------------------------------------------------------------------------
# jax.export and the persistent cache, across processes.


def _bare_env(tmp_path: Path) -> dict[str, str]:
    """A worker environment without the tvm-ffi build cache (an empty home and cache dir)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}


def test_export_helpers() -> None:
    assert jax_tvm_ffi.embedded_targets() == (EMBEDDED, "jax_tvm_ffi.embedded_cuda_graph")
    checks = jax_tvm_ffi.export_disabled_checks()
    assert checks == [
        jax.export.DisabledSafetyCheck.custom_call(n) for n in jax_tvm_ffi.embedded_targets()
    ]


def test_export_refuses_embedded_targets_without_the_disabled_checks(
    built: tvm_ffi.Module,
) -> None:
    _, square = embedded_support.functions(built)
    with pytest.raises(ValueError, match=EMBEDDED.replace(".", r"\.")):
        jax.export.export(jax.jit(square))(_x(3))


def test_exported_program_runs_in_a_fresh_process_without_the_library(tmp_path: Path) -> None:
    build = tmp_path / "build"
    affine, square = embedded_support.functions(embedded_support.build(str(build)))
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    f = jax.jit(lambda v: jnp.sum(square(affine(v, alpha=0.5)), axis=1))
    exported = jax.export.export(f, disabled_checks=jax_tvm_ffi.export_disabled_checks())(x)
    artifact, data = tmp_path / "program.jax", tmp_path / "data.npz"
    artifact.write_bytes(exported.serialize())
    np.savez(data, x=x)
    expected = np.asarray(f(x))
    shutil.rmtree(build)  # nothing of the kernel is left but what the artifact carries
    report = run_worker(
        "embedded_worker.py", ["run", str(artifact), str(data)], **_bare_env(tmp_path)
    )
    assert report["platforms"] == ["cpu"]
    assert report["registered"] == 0
    assert report["loaded"] == 1  # one library for both kernels
    np.testing.assert_array_equal(np.asarray(report["out"], np.float32), expected)
    np.testing.assert_array_equal(
        expected, np.sum(embedded_support.affine_reference(x, 0.5) ** 2, axis=1)
    )


def test_persistent_compilation_cache_hit_in_a_second_process(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    first = run_worker("embedded_worker.py", ["cache", str(cache)])
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    expected = embedded_support.affine_reference(x, 3.0) ** 2
    np.testing.assert_array_equal(np.asarray(first["out"], np.float32), expected)
    assert (first["hits"], first["misses"]) == (0, 1), first
    assert first["files"], "the first process wrote nothing to the cache"
    second = run_worker("embedded_worker.py", ["cache", str(cache)])
    assert (second["hits"], second["misses"]) == (1, 0), second
    assert second["out"] == first["out"]
    assert first["loaded"] == second["loaded"] == 1  # the cached executable loaded it too


# An artifact made with the default (registered) targets keeps working as before: covered by
# tests/test_ffi_function_export.py, which this change leaves as it was.


# ---------------------------------------------------------------------------------------------
# One loaded copy per digest, unloaded with the last executable; memory stays flat.


def test_executables_share_one_loaded_library_and_release_it() -> None:
    report = run_worker("embedded_worker.py", ["share"])
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    a2 = embedded_support.affine_reference(x, 2.0)
    np.testing.assert_array_equal(np.asarray(report["outs"][0], np.float32), a2)
    np.testing.assert_allclose(
        np.asarray(report["outs"][1], np.float32),
        embedded_support.affine_reference(x, 5.0) ** 2 + 1,
        rtol=1e-6,
    )
    np.testing.assert_array_equal(np.asarray(report["outs"][2], np.float32), a2)
    assert report["counts"] == {"start": 0, "two_executables": 1, "dropped": 0, "again": 1}


@pytest.mark.soak
def test_loading_and_unloading_many_executables_keeps_memory_flat() -> None:
    report = run_worker("embedded_worker.py", ["memory", "1000"], timeout=600)
    rss = {int(k): v for k, v in report["rss"].items()}
    growth = rss[1000] - rss[100]
    print(json.dumps({"rss_after_100": rss[100], "rss_after_1000": rss[1000], "growth": growth}))
    assert report["loaded_while_alive"] == [1]
    assert report["loaded_at_end"] == 0
    # A leaked copy of the library (about 100 KB) per executable would add ~90 MB.
    assert growth < 16 * 2**20, rss
