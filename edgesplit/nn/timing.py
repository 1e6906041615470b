"""Fair wall-time measurement of several functions on a host whose speed drifts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def measure_seconds(
    fns: dict[str, Callable[[], object]], repeats: int = 50, rounds: int = 10, warmup: int = 20
) -> dict[str, float]:
    """Wall time of one call of each function: the median over `rounds` of per-round medians.

    The functions take turns within every round, so that a host whose speed drifts (other processes,
    shared cores) slows them alike and their ratios stay fair.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    per_round: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - t0)
            per_round[name].append(statistics.median(samples))
    return {name: statistics.median(m) for name, m in per_round.items()}
