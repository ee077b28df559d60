"""Memory: many bridged calls, failing ones among them, leave resident memory flat.

Runs ``tests/memory_soak.py`` (see there for the mix of calls) in a fresh interpreter for
200,000 calls and checks that resident memory grew less than 2 MB from call 10,000 to the last.
The full 1,000,000-call run is ``python tests/memory_soak.py``, by hand. A second run soaks
re-registration: 50 Python callbacks holding 10 MB each, then 100,000 re-registrations of a C++
kernel, with resident memory flat over both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tvm_ffi

SOAK = Path(__file__).parent / "memory_soak.py"


def run_soak(*args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Runs the soak script in a fresh interpreter; returns the process and its JSON figures."""
    result = subprocess.run(
        [sys.executable, str(SOAK), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.soak
def test_resident_memory_stays_flat(kernels: tvm_ffi.Module) -> None:
    # `kernels` makes sure the test kernels are compiled (and cached) before the soak loads them.
    result, figures = run_soak("--calls", "200000")
    assert figures["calls"] >= 200_000
    assert figures["failing_calls"] > 0
    assert figures["growth_mb"] < 2.0, figures
    assert result.returncode == 0


@pytest.mark.soak
def test_reregistration_leaves_resident_memory_flat(kernels: tvm_ffi.Module) -> None:
    result, figures = run_soak("--reregistrations", "100000")
    assert figures["reregistrations"] == 100_000
    # Kept, the 50 replaced models alone would be 500 MB.
    assert figures["models_growth_mb"] < 30.0, figures
    assert figures["growth_mb"] < 2.0, figures
    assert result.returncode == 0
