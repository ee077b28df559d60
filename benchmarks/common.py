"""What every measurement shares: the settings of a run, the timing loop and the failure type."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


class BenchmarkError(RuntimeError):
    """A benchmark could not be built or run (never raised for a slow timing)."""


@dataclass(frozen=True)
class Settings:
    """How long each measurement runs.

    Attributes:
      name: ``"quick"`` or ``"full"``, recorded in the results.
      loop_iterations: custom calls per jitted ``fori_loop`` in the XLA loop benchmark.
      loop_repeats: timed runs of each loop in one process; the median is taken.
      loop_processes: fresh processes the XLA loop runs in; the medians over them are reported,
        since code placement makes the native/bridge ratio of one process vary by up to ±0.1.
      callback_calls: Python callback calls per ``fori_loop``.
      callback_repeats: timed runs of each callback loop.
      registration_counts: how many targets each registration measurement registers.
      registration_repeats: timed rounds for counts small enough to repeat cheaply.
      gbench_min_time: Google Benchmark's ``--benchmark_min_time`` in seconds.
      gbench_repetitions: Google Benchmark's ``--benchmark_repetitions`` (median reported).
    """

    name: str
    loop_iterations: int
    loop_repeats: int
    loop_processes: int
    callback_calls: int
    callback_repeats: int
    registration_counts: tuple[int, ...]
    registration_repeats: int
    gbench_min_time: float
    gbench_repetitions: int


QUICK = Settings(
    name="quick",
    loop_iterations=10_000,
    loop_repeats=7,
    loop_processes=1,
    callback_calls=300,
    callback_repeats=5,
    registration_counts=(1, 100, 10_000),
    registration_repeats=3,
    gbench_min_time=0.03,
    gbench_repetitions=1,
)

FULL = Settings(
    name="full",
    loop_iterations=100_000,
    loop_repeats=21,
    loop_processes=7,
    callback_calls=3_000,
    callback_repeats=11,
    registration_counts=(1, 100, 10_000),
    registration_repeats=11,
    gbench_min_time=0.3,
    gbench_repetitions=5,
)


SETTINGS = {settings.name: settings for settings in (QUICK, FULL)}


def interleaved_median_ns(
    runs: Mapping[str, Callable[[], object]], items: int, repeats: int, warmup: int = 2
) -> dict[str, float]:
    """Times several callables against each other.

    Each callable is first called ``warmup`` times untimed, then all are timed ``repeats``
    times in turn (A, B, A, B, ...) so that drift in machine load affects them alike.

    Args:
      runs: the callables by name; each must finish its work before returning.
      items: how many items (iterations, calls) one call of a callable processes.
      repeats: timed calls of each callable.
      warmup: untimed calls of each callable before timing.

    Returns:
      The median time per item of each callable, in nanoseconds.
    """
    for run in runs.values():
        for _ in range(warmup):
            run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter_ns()
            run()
            samples[name].append((time.perf_counter_ns() - start) / items)
    return {name: statistics.median(values) for name, values in samples.items()}
