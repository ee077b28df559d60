"""4b. Registration time: ``jax_tvm_ffi.register_ffi_target`` for 1, 100 and 10,000 targets.

Every registration uses a fresh name, so each one makes a new entry point in the core and a new
registration with JAX (included in the time). The registry is process-wide: the targets stay.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from typing import Any

import jax_tvm_ffi
from common import Settings

ARG_SPEC = ["args", "rets", "attrs.attr"]
# Rounds are repeated while they register at most this many targets in all.
_REPEAT_BUDGET = 1_000


def run(function: Any, settings: Settings) -> list[dict[str, Any]]:
    """Times registering ``function`` under fresh names, once per count in the settings.

    Small counts are repeated (``settings.registration_repeats`` rounds, at most
    ``_REPEAT_BUDGET`` targets in all) and the median round is reported.

    Returns:
      One row per count: ``targets``, ``seconds`` (for the whole round), ``us_per_target``
      and ``rounds``.
    """
    serial = itertools.count()
    prefix = f"jax_tvm_ffi_bench.registration.{os.getpid()}"

    def register_round(count: int) -> float:
        names = [f"{prefix}.{next(serial)}" for _ in range(count)]
        start = time.perf_counter()
        for name in names:
            jax_tvm_ffi.register_ffi_target(name, function, arg_spec=ARG_SPEC, platform="cpu")
        return time.perf_counter() - start

    register_round(1)  # Loads the core and JAX's registration path outside the timing.
    rows = []
    for count in settings.registration_counts:
        rounds = max(1, min(settings.registration_repeats, _REPEAT_BUDGET // count))
        seconds = statistics.median(register_round(count) for _ in range(rounds))
        rows.append(
            {
                "targets": count,
                "seconds": seconds,
                "us_per_target": seconds / count * 1e6,
                "rounds": rounds,
            }
        )
    return rows
