"""Instructions per bridged call, counted by valgrind's callgrind (deterministic, unlike timings).

Runs one handler benchmark case of ``handler_benchmark`` (built by ``native_build.py`` into
``benchmarks/build/``) under callgrind, counting only inside the bridge's dispatcher
(``DispatchToTarget``, everything a call runs after its entry point's five instructions), and
prints the instructions divided by the number of calls::

    python benchmarks/callgrind_per_call.py benchmarks/build/handler_benchmark
    python benchmarks/callgrind_per_call.py OLD/handler_benchmark NEW/handler_benchmark

Needs valgrind (``apt-get install valgrind``). The case defaults to ``handler/add_2t1a/bridge``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

DISPATCHER = "*DispatchToTarget*"


def instructions_per_call(binary: str, case: str) -> tuple[float, int]:
    """Returns (instructions per call, calls) for one benchmark case."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--toggle-collect={DISPATCHER}",
                f"--callgrind-out-file={out}",
                binary,
                f"--benchmark_filter=^{case}$",
                "--benchmark_min_time=0.01",
            ],
            check=True,
            capture_output=True,
        )
        report = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", "--tree=caller", str(out)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    total = int(
        re.search(r"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", report, re.M)[1].replace(",", "")
    )
    # In the caller tree, the dispatcher's block lists who called it and how often: the entry
    # points (generated code, no symbol).
    block = next(b for b in report.split("\n\n") if re.search(r"\*  .*DispatchToTarget", b))
    calls = sum(
        int(n.replace(",", "")) for n in re.findall(r"^\s*[\d,]+ .*< .*\(([\d,]+)x\)", block, re.M)
    )
    return total / calls, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binaries", nargs="+", help="handler_benchmark executables to compare")
    parser.add_argument("--case", default="handler/add_2t1a/bridge")
    args = parser.parse_args()
    for binary in args.binaries:
        per_call, calls = instructions_per_call(binary, args.case)
        print(f"{binary}: {per_call:.1f} instructions per call ({calls} calls of {args.case})")


if __name__ == "__main__":
    main()
