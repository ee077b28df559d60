"""jax.export and the persistent compilation cache with bridged targets, across processes."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.export  # jax 0.6 imports this submodule only when asked to
import numpy as np
import pytest
from ffi_function_support import export_functions, run_worker

EPS = 1e-6


def program():
    rms, matvec = export_functions()
    return rms, matvec, jax.jit(lambda x, v: matvec(rms(x, eps=EPS)[0], v))


def inputs() -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(1).standard_normal((5, 7)).astype(np.float32)
    return x, np.linspace(-1, 1, 7, dtype=np.float32)


def export(tmp_path: Path) -> tuple[Path, Path, bytearray]:
    rms, matvec, f = program()
    x, v = inputs()
    checks = [jax.export.DisabledSafetyCheck.custom_call(g.target_name) for g in (rms, matvec)]
    exported = jax.export.export(f, disabled_checks=checks)(x, v)
    blob = exported.serialize()
    artifact, data = tmp_path / "program.jax", tmp_path / "data.npz"
    artifact.write_bytes(blob)
    np.savez(data, x=x, v=v, expected=np.asarray(f(x, v)))
    return artifact, data, blob


def test_export_refuses_bridged_targets_without_disabled_check() -> None:
    rms, _, f = program()
    with pytest.raises(ValueError, match=rms.target_name.replace(".", r"\.")):
        jax.export.export(f)(*inputs())


def test_exported_program_runs_in_this_process(tmp_path: Path) -> None:
    _, data, blob = export(tmp_path)
    arrays = np.load(data)
    out = jax.export.deserialize(blob).call(arrays["x"], arrays["v"])
    np.testing.assert_array_equal(out, arrays["expected"])


def test_exported_program_runs_in_a_fresh_process(tmp_path: Path) -> None:
    artifact, data, _ = export(tmp_path)
    report = run_worker("export_worker.py", [str(artifact), str(data)])
    assert report["platforms"] == ["cpu"]
    assert report["max_error"] == 0.0


def test_fresh_process_must_register_the_targets(tmp_path: Path) -> None:
    artifact, data, _ = export(tmp_path)
    report = run_worker("export_worker.py", [str(artifact), str(data), "--no-register"])
    assert "jax_tvm_ffi_test.export." in report["error"]


def test_persistent_compilation_cache_hit_in_a_second_process(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    first = run_worker("cache_worker.py", [str(cache)])
    assert first["max_error"] < 1e-5
    assert (first["hits"], first["misses"]) == (0, 1)
    assert first["files"], "the first process wrote nothing to the cache"
    second = run_worker("cache_worker.py", [str(cache)])
    assert (second["hits"], second["misses"]) == (1, 0)
    assert second["max_error"] == first["max_error"]
    assert second["files"] == first["files"]
