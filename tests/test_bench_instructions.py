"""The benchmark suite's instruction-count section degrades to a stated reason, never a crash.

What is checked here is the section's plumbing, not its figures (benchmarks are not timed
tests): the reference environment's version check, pip failing, valgrind missing, the
reference's worker failing while ours is still counted, and the report's table. The real count
runs in CI's benchmark smoke step.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH_DIR))

import bench_instructions  # noqa: E402
import reference_env  # noqa: E402
import report  # noqa: E402


def _fake_counts(side: str) -> dict[str, int]:
    """Counts as the worker would dump them: 1000 + 10 per iteration natively, 1000 + 14 ours."""
    per_iteration = {"native": 10, side: 14}
    return {
        f"{case.name}/{label}/{n}": 1000 + step * n
        for case in bench_instructions.CASES
        for label, step in per_iteration.items()
        for n in (bench_instructions.SHORT, bench_instructions.LONG)
    }


def test_a_python_without_the_reference_package_is_refused_with_the_version_it_has() -> None:
    # This test environment has our jax_tvm_ffi, not the published 0.1.3.
    checked = reference_env.check(sys.executable)
    assert checked.python is None
    assert "must have jax-tvm-ffi==0.1.3" in checked.why
    assert checked.versions["jax"] == reference_env.wanted_versions()["jax"]


def test_a_python_that_cannot_run_is_refused_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-python"
    checked = reference_env.check(str(missing))
    assert checked.python is None
    assert str(missing) in checked.why and "could not be run" in checked.why


def test_the_wanted_versions_are_this_pythons_and_0_1_3() -> None:
    from importlib import metadata

    wanted = reference_env.wanted_versions()
    assert wanted["jax-tvm-ffi"] == "0.1.3"
    for name in ("jax", "jaxlib", "apache-tvm-ffi"):
        assert wanted[name] == metadata.version(name)


def test_pip_failing_gives_the_reason_and_leaves_no_half_made_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No index and an empty wheel folder: pip fails at once, as it does with no network.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels"))
    venv = tmp_path / "reference-venv"
    made = reference_env.ensure(venv)
    assert made.python is None
    assert "pip install" in made.why and "jax-tvm-ffi==0.1.3" in made.why
    assert not venv.exists()


def test_without_valgrind_the_section_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    section = bench_instructions.run(tmp_path / "kernels.so", tmp_path / "marks.so", None)
    assert section == {"available": False, "why": "valgrind is not installed"}
    assert "not measured, valgrind is not installed" in report._instructions(section)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
def test_a_failing_reference_worker_costs_only_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_count = bench_instructions._count

    def count(python: str, kernels: Path, marks: Path, side: str) -> dict[str, int]:
        # Ours is faked (the real one takes minutes); the reference really runs under valgrind.
        return _fake_counts(side) if side == "bridge" else real_count(python, kernels, marks, side)

    monkeypatch.setattr(bench_instructions, "_count", count)
    broken = tmp_path / "broken-python"
    broken.write_text("#!/bin/sh\necho 'reference is broken' >&2\nexit 3\n")
    broken.chmod(0o755)
    marks = tmp_path / "marks.so"
    marks.write_bytes(b"")
    section = bench_instructions.run(tmp_path / "kernels.so", marks, str(broken))
    assert section["available"] and not section["reference_measured"]
    assert "reference is broken" in section["reference_why"]
    row = section["cases"]["add_scalar"]
    assert (row["native"], row["bridge"], row["bridge_minus_native"]) == (10, 14, 4)
    assert "reference" not in row
    assert "reference not measured: the callgrind worker (reference) failed" in (
        report._instructions(section)
    )


def test_the_report_has_every_column_and_the_ratio_of_added_costs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counts = {**_fake_counts("bridge"), **_fake_counts("reference")}
    # The reference adds 8 per iteration over native, ours 4: the ratio is 2.
    counts.update({k: 1000 + 18 * int(k.rsplit("/", 1)[1]) for k in counts if "/reference/" in k})
    monkeypatch.setattr(bench_instructions, "_count", lambda *_: counts)
    monkeypatch.setattr(bench_instructions.shutil, "which", lambda _: "/usr/bin/valgrind")
    section = bench_instructions.run(Path("k.so"), Path(__file__), "/reference/python")
    row = section["cases"]["add4"]
    assert (row["reference"], row["reference_minus_native"]) == (18, 8)
    assert report.added_cost_ratio(row) == 2
    section["reference_versions"] = {"jax-tvm-ffi": "0.1.3"}
    text = report._instructions(section)
    header = text.splitlines()[1].split()
    assert header[:3] == ["case", "native", "ours"] and header[-1] == "ratio"
    assert "add4: four f32[16] in" in text and "2.00" in text
    assert "jax-tvm-ffi 0.1.3 in /reference/python" in text


def test_run_reports_no_reference_when_told_not_to_use_one() -> None:
    # run.py imports jax and the whole suite; a fresh process keeps this test's imports clean.
    code = (
        f"import sys; sys.path.insert(0, {str(BENCH_DIR)!r}); import run; "
        "r = run._reference(None, False); print(r.python, '|', r.why)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "None | --no-reference was given"
