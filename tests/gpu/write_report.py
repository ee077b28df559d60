"""Writes ``$OUT/gpu_run.json`` for ``run_on_device.sh``: the GPU, versions, each step, the suite.

The JSON's keys: ``gpu`` (what ``nvidia-smi`` reports: name, driver, memory, compute capability;
null without one), ``nvidia_smi`` (its full output), ``versions``, ``steps`` (name, exit status,
seconds), ``suite`` (counts and every test's outcome, from pytest's JUnit XML), ``benchmark``
(``benchmarks/gpu/bench_gpu_loop.py``'s JSON), ``ok`` (every step exited 0) and ``ran_on_gpu``
(there was a GPU, tests passed on it and the benchmark measured both modes). Exit status 0
only when every step did.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

PACKAGES = ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda13-pjrt", "apache-tvm-ffi",
            "jax-tvm-ffi", "cupy-cuda13x", "numpy", "ml_dtypes", "pytest")  # fmt: skip


def command_output(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return (result.stdout + result.stderr).strip()


def gpu() -> dict[str, str] | None:
    fields = "name,driver_version,memory.total,compute_cap"
    output = command_output(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"])
    if not output or "failed" in output.lower():
        return None
    values = [value.strip() for value in output.splitlines()[0].split(",")]
    return dict(zip(fields.split(","), values, strict=False))


def versions() -> dict[str, Any]:
    found: dict[str, Any] = {"python": platform.python_version(), "executable": sys.executable}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    nvcc = command_output(["nvcc", "--version"])
    found["nvcc"] = nvcc.splitlines()[-1] if nvcc else None
    cmake = command_output(["cmake", "--version"])
    found["cmake"] = cmake.splitlines()[0] if cmake else None
    probe = "import json, jax_tvm_ffi; print(json.dumps(jax_tvm_ffi.build_info()))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    found["jax_tvm_ffi_build"] = json.loads(result.stdout) if result.returncode == 0 else None
    return found


def suite(xml_path: Path) -> dict[str, Any] | None:
    if not xml_path.exists():
        return None
    tests = []
    for case in ElementTree.parse(xml_path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                message = (element.get("message") or "") + "\n" + (element.text or "")
                break
        tests.append(
            {
                "test": f"{case.get('classname')}::{case.get('name')}",
                "outcome": outcome,
                "seconds": float(case.get("time") or 0),
                "message": message.strip()[:3000],
            }
        )
    counts: dict[str, int] = {}
    for test in tests:
        counts[test["outcome"]] = counts.get(test["outcome"], 0) + 1
    return {"counts": counts, "tests": tests}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=Path, required=True)
    args = parser.parse_args()
    steps = []
    for line in args.steps.read_text().splitlines():
        name, status, seconds = line.split("\t")
        steps.append({"step": name, "exit": int(status), "seconds": int(seconds)})
    smi = args.out / "nvidia_smi.txt"
    bench = args.out / "gpu_bench.json"
    report = {
        "gpu": gpu(),
        "nvidia_smi": smi.read_text() if smi.exists() else None,
        "versions": versions(),
        "steps": steps,
        "suite": suite(args.out / "gpu_suite.xml"),
        "benchmark": json.loads(bench.read_text()) if bench.exists() else None,
        "ok": all(step["exit"] == 0 for step in steps),
    }
    suite_counts = (report["suite"] or {}).get("counts", {})
    benchmark = report["benchmark"] or {}
    # A run with no GPU (a rehearsal) passes its steps by skipping: say so apart from "ok".
    report["ran_on_gpu"] = bool(
        report["gpu"] and suite_counts.get("passed") and "graphs_on" in benchmark
    )
    (args.out / "gpu_run.json").write_text(json.dumps(report, indent=2) + "\n")
    counts = (report["suite"] or {}).get("counts")
    print(f"gpu: {report['gpu']}; ran on a GPU: {report['ran_on_gpu']}; suite: {counts}; steps: "
          + ", ".join(f"{s['step']}={s['exit']}" for s in steps))  # fmt: skip
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
