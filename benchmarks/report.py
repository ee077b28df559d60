"""Presents the results: readable tables, the JSON file and the scaling plot."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The targets of issue 3, printed beside the measurements for orientation only: nothing checks
# them, and a run that misses them still succeeds.
TARGETS = {
    "xla_loop_ratio": "<= 1.10",
    "handler_ratio": "<= 1.5",
    "allocs_per_call": "0",
    "callback_speedup": ">= 3",
}

_CASE_LABELS = {
    "add_2t1a": "2 tensors, 1 attr (f32)",
    "mixed_8t4a": "8 tensors, 4 attrs (f32 i64 bool i32)",
    "mixed_8t5a_str": "8 tensors, 4 attrs + string",
}

_PLOT_RANK = 1
_PLOT_TENSORS = 16


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """Aligns columns: the first to the left, the others (numbers) to the right."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return indent + "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def _ns(value: float) -> str:
    return f"{value:,.1f}"


def _allocs(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}"


def process_count(count: int) -> str:
    """Says "1 process" or "<count> processes"."""
    return f"{count} process" if count == 1 else f"{count} processes"


def _xla_loop(result: dict[str, Any]) -> str:
    rows = [
        ["native XLA FFI handler (typed binding)", _ns(result["native_ns"])],
        ["bridge (TVM FFI function)", _ns(result["bridge_ns"])],
        ["XLA add, no custom call (reference)", _ns(result["xla_add_ns"])],
    ]
    return "\n".join(
        [
            f"1. XLA loop: jitted fori_loop of {result['iterations']:,} custom calls "
            f"y = x + attr on f32[16] (medians over {process_count(result.get('processes', 1))}, "
            f"each the median of {result['repeats']} runs)",
            _table(["variant", "ns/iteration"], rows),
            f"  ratio bridge/native: {result['ratio']:.2f}   (target {TARGETS['xla_loop_ratio']})"
            + (
                f"; per process {result['ratio_min']:.2f} to {result['ratio_max']:.2f}"
                if "ratio_min" in result
                else ""
            ),
        ]
    )


def _handler(result: dict[str, Any]) -> str:
    cases = {"add_2t1a": result, **{k: result[k] for k in _CASE_LABELS if k != "add_2t1a"}}
    rows = [
        [
            _CASE_LABELS[name],
            _ns(case["native_ns"]),
            _ns(case["bridge_ns"]),
            f"{case['ratio']:.2f}",
            _allocs(case["allocs_per_call"]),
            _allocs(case["native_allocs_per_call"]),
        ]
        for name, case in cases.items()
    ]
    counting = "operator new and malloc" if result["malloc_counting"] else "operator new only"
    return "\n".join(
        [
            "2. Handler alone: one call on a synthetic XLA call frame (Google Benchmark, C++)",
            _table(
                ["case", "native ns", "bridge ns", "ratio", "bridge allocs", "native allocs"],
                rows,
            ),
            f"  allocations per call count {counting}; targets for the first case: ratio "
            f"{TARGETS['handler_ratio']}, {TARGETS['allocs_per_call']} allocations per call",
        ]
    )


def _callbacks(result: dict[str, Any]) -> str:
    rows = [
        ["jax.pure_callback", _ns(result["pure_callback_ns"])],
        ["bridge, pass_owned_tensor=True", _ns(result["bridge_ns"])],
    ]
    return "\n".join(
        [
            f"3. Python callbacks: NumPy x + 1 on f32[16], {result['calls']:,} calls in a "
            f"fori_loop (median of {result['repeats']} runs)",
            _table(["variant", "ns/call"], rows),
            f"  speedup pure_callback/bridge: {result['speedup']:.2f}   "
            f"(target {TARGETS['callback_speedup']})",
        ]
    )


def _signature(result: dict[str, Any]) -> str:
    rows = [
        ["direct: arg spec by index, no Python", _ns(result["direct_ns"])],
        ["Python wrapper, pass_owned_tensor=True", _ns(result["python_wrapper_ns"])],
    ]
    return "\n".join(
        [
            f"6. Kernel signature: RoPE (q, k, q_rope, k_rope, cos_sin, positions, maybe_scale), "
            f"{result['calls']:,} calls in a fori_loop (median of {result['repeats']} runs)",
            _table(["binding", "ns/call"], rows),
            f"  speedup wrapper/direct: {result['speedup']:.2f}",
        ]
    )


def _scaling(scaling: list[dict[str, Any]]) -> str:
    rows = [
        [
            str(row["tensors"]),
            str(row["rank"]),
            _ns(row["native_ns"]),
            _ns(row["bridge_ns"]),
            f"{row['ratio']:.2f}",
            _allocs(row["allocs_per_call"]),
        ]
        for row in scaling
    ]
    return "\n".join(
        [
            "4. Scaling: one call with T f32 arguments of rank R, every dimension 2 (C++)",
            _table(["tensors", "rank", "native ns", "bridge ns", "ratio", "bridge allocs"], rows),
        ]
    )


def _registration(registration: list[dict[str, Any]]) -> str:
    rows = [
        [f"{row['targets']:,}", f"{row['seconds']:.6f}", f"{row['us_per_target']:.1f}"]
        for row in registration
    ]
    return "\n".join(
        [
            "4b. Registration: register_ffi_target under fresh names, JAX registration included",
            _table(["targets", "seconds", "us/target"], rows),
        ]
    )


def _count(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def added_cost_ratio(row: dict[str, Any]) -> float | None:
    """(reference − native) / (ours − native): how many times our added cost the reference adds.

    None without a reference, or when ours adds nothing (the ratio would mean nothing).
    """
    ours = row["bridge_minus_native"]
    theirs = row.get("reference_minus_native")
    if theirs is None or ours <= 0:
        return None
    return theirs / ours


def _instructions(section: dict[str, Any]) -> str:
    title = "5. Instructions per XLA loop iteration (callgrind)"
    if not section["available"]:
        return f"{title}: not measured, {section['why']}"
    rows = [
        [
            f"{name}: {row['description']}",
            _count(row["native"]),
            _count(row["bridge"]),
            _count(row.get("reference")),
            _count(row["bridge_minus_native"]),
            _count(row.get("reference_minus_native")),
            "n/a" if (ratio := added_cost_ratio(row)) is None else f"{ratio:.2f}",
        ]
        for name, row in section["cases"].items()
    ]
    long, short = section["long"], section["short"]
    lines = [
        f"{title}: jitted fori_loop, one custom call per iteration, "
        f"(count({long}) - count({short})) / {long - short}, the loop's thread",
        _table(
            ["case", "native", "ours", "reference", "ours - native", "ref - native", "ratio"],
            rows,
        ),
        "  ratio = (reference - native) / (ours - native): how many times our added cost the "
        "reference adds",
    ]
    embedded = [
        f"{name} {_count(row['embedded'])} ({row['embedded_over_bridge']:.3f}x registered)"
        for name, row in section["cases"].items()
        if "embedded" in row
    ]
    if embedded:
        lines.append("  embedded in the program (ffi_function(embed=True)): " + ", ".join(embedded))
    if section["reference_measured"]:
        versions = section.get("reference_versions", {})
        checks = ", ".join(
            f"{name} {_count(row['native_in_reference_run'])}"
            for name, row in section["cases"].items()
        )
        lines.append(
            f"  reference: jax-tvm-ffi {versions.get('jax-tvm-ffi', '?')} in "
            f"{section['reference_python']}; its run counts the native handler at {checks}"
        )
    else:
        lines.append(f"  reference not measured: {section['reference_why']}")
    return "\n".join(lines)


def _embedded_load(section: dict[str, Any]) -> str:
    title = "7. embedded load"
    if not section.get("available", True):
        return f"{title}: not measured: {section['why']}"
    return (
        f"{title}: compile and first call of a fresh program, medians of {section['rounds']}: "
        f"by name {section['registered_ms']:.1f} ms, embedded {section['embedded_ms']:.1f} ms "
        f"(+{section['embedded_over_registered_ms']:.1f} ms for a "
        f"{section['library_bytes']:,}-byte library, loaded anew in {section['loads_seen']} of "
        f"{section['rounds']} rounds)"
    )


def format_report(results: dict[str, Any]) -> str:
    """The readable report: a header line, then one table per measurement."""
    meta = results["meta"]
    header = (
        f"jax-tvm-ffi benchmarks ({meta['mode']} run, {meta['seconds']:.0f} s): "
        f"jax {meta['jax']}, jaxlib {meta['jaxlib']}, tvm-ffi {meta['tvm_ffi']}, "
        f"{meta['machine']}, {meta['cpus']} CPUs"
    )
    sections = [
        header,
        _xla_loop(results["xla_loop"]),
        _handler(results["handler"]),
        _callbacks(results["python_callback"]),
        _signature(results["kernel_signature"]),
        _scaling(results["scaling"]),
        _registration(results["registration"]),
        _instructions(results["instructions"]),
        _embedded_load(results["embedded_load"]),
    ]
    return "\n\n".join(sections)


def write_json(results: dict[str, Any], path: Path) -> None:
    """Writes the results (strict JSON: no NaN) to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, allow_nan=False) + "\n")


def save_plot(scaling: list[dict[str, Any]], path: Path) -> None:
    """Plots per-call time against tensor count (and against rank), bridge against native.

    Raises:
      ImportError: matplotlib is not installed (``pip install ".[bench]"``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_tensors, by_rank) = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = [
        (by_tensors, "tensors", "rank", _PLOT_RANK, "tensors per call"),
        (by_rank, "rank", "tensors", _PLOT_TENSORS, "rank of every tensor"),
    ]
    for axes, x_key, fixed_key, fixed_value, x_label in panels:
        rows = sorted((r for r in scaling if r[fixed_key] == fixed_value), key=lambda r: r[x_key])
        xs = [row[x_key] for row in rows]
        for side, style in (("native", "o-"), ("bridge", "s-")):
            label = "native XLA FFI (typed)" if side == "native" else "jax-tvm-ffi bridge"
            axes.plot(xs, [row[f"{side}_ns"] for row in rows], style, label=label)
        if x_key == "tensors":
            axes.set_xscale("log", base=2)
        axes.set_xticks(xs)
        axes.set_xticklabels([str(x) for x in xs])
        axes.set_xlabel(x_label)
        axes.set_ylabel("ns per call")
        axes.set_ylim(bottom=0)
        axes.set_title(f"per-call time vs {x_key} ({fixed_key} {fixed_value})")
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.suptitle("Handler alone: bridge against native XLA FFI")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
