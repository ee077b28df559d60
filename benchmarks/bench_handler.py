"""2. Handler alone and 4. scaling: runs the Google Benchmark program and reads its JSON.

The program (``benchmarks/cpp``) calls the bridge's handler and a native typed XLA FFI handler
on the same synthetic call frame, with no XLA runtime around them, and counts heap allocations
per call. Benchmark names are ``handler/<case>/<native|bridge>`` and
``scaling/<native|bridge>/tensors:T/rank:R``.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from common import BenchmarkError, Settings

# Handler cases: name -> (tensors, attributes). "add_2t1a" gives the top-level numbers.
CASES = {"add_2t1a": (2, 1), "mixed_8t4a": (8, 4), "mixed_8t5a_str": (8, 5)}

_SCALING = re.compile(r"scaling/(native|bridge)/tensors:(\d+)/rank:(\d+)")
_NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def _run_program(program: Path, settings: Settings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "handler_benchmark.json"
        command = [
            str(program),
            f"--benchmark_out={out}",
            "--benchmark_out_format=json",
            f"--benchmark_min_time={settings.gbench_min_time}",
            f"--benchmark_repetitions={settings.gbench_repetitions}",
        ]
        if settings.gbench_repetitions > 1:
            command += [
                "--benchmark_report_aggregates_only=true",
                "--benchmark_enable_random_interleaving=true",
            ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not out.exists():
            raise BenchmarkError(
                f"{program.name} failed with exit code {result.returncode}:\n"
                + (result.stdout + result.stderr)[-4000:]
            )
        return json.loads(out.read_text())


def _measurements(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per benchmark (run name): real time in ns and counters, the median over repetitions."""
    failed = [entry for entry in report["benchmarks"] if entry.get("error_occurred")]
    if failed:
        details = "; ".join(f"{e['name']}: {e.get('error_message', '')}" for e in failed)
        raise BenchmarkError(f"handler benchmarks failed: {details}")
    measured: dict[str, dict[str, float]] = {}
    for entry in report["benchmarks"]:
        if entry.get("run_type") == "aggregate" and entry.get("aggregate_name") != "median":
            continue
        values = {
            "ns": entry["real_time"] * _NS_PER_UNIT[entry.get("time_unit", "ns")],
            "allocs_per_call": entry.get("allocs_per_call", float("nan")),
        }
        measured[entry.get("run_name", entry["name"])] = values
    return measured


def _pair(measured: dict[str, dict[str, float]], native: str, bridge: str) -> dict[str, float]:
    try:
        native_values, bridge_values = measured[native], measured[bridge]
    except KeyError as missing:
        raise BenchmarkError(f"the handler benchmark program reported no {missing}") from None
    return {
        "native_ns": native_values["ns"],
        "bridge_ns": bridge_values["ns"],
        "ratio": bridge_values["ns"] / native_values["ns"],
        "allocs_per_call": bridge_values["allocs_per_call"],
        "native_allocs_per_call": native_values["allocs_per_call"],
    }


def run(program: Path, settings: Settings) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Runs the program once for every handler and scaling benchmark.

    Returns:
      ``(handler, scaling)``: ``handler`` has the (2 tensors, 1 attribute) case's
      ``native_ns``, ``bridge_ns``, ``ratio`` and ``allocs_per_call`` (the bridge's) at top
      level and every case under its name; ``scaling`` has one row per (tensors, rank).
    """
    report = _run_program(program, settings)
    measured = _measurements(report)

    cases = {}
    for case, (tensors, attributes) in CASES.items():
        values = _pair(measured, f"handler/{case}/native", f"handler/{case}/bridge")
        cases[case] = {"tensors": tensors, "attributes": attributes, **values}
    handler: dict[str, Any] = dict(cases["add_2t1a"])
    handler.update({name: values for name, values in cases.items() if name != "add_2t1a"})
    handler["malloc_counting"] = report.get("context", {}).get("malloc_counting") == "on"

    points = sorted(
        {(int(m[2]), int(m[3])) for name in measured if (m := _SCALING.fullmatch(name))}
    )
    scaling = []
    for tensors, rank in points:
        suffix = f"tensors:{tensors}/rank:{rank}"
        values = _pair(measured, f"scaling/native/{suffix}", f"scaling/bridge/{suffix}")
        scaling.append({"tensors": tensors, "rank": rank, **values})
    return handler, scaling
