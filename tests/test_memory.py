"""Memory: many bridged calls, failing ones among them, leave resident memory flat.

Runs ``tests/memory_soak.py`` (see there for the mix of calls) in a fresh interpreter for
200,000 calls and checks that resident memory grew less than 2 MB from call 10,000 to the last.
The full 1,000,000-call run is ``python tests/memory_soak.py``, by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tvm_ffi

SOAK = Path(__file__).parent / "memory_soak.py"


def test_resident_memory_stays_flat(kernels: tvm_ffi.Module) -> None:
    # `kernels` makes sure the test kernels are compiled (and cached) before the soak loads them.
    result = subprocess.run(
        [sys.executable, str(SOAK), "--calls", "200000", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["calls"] >= 200_000
    assert figures["failing_calls"] > 0
    assert figures["growth_mb"] < 2.0, figures
    assert result.returncode == 0
