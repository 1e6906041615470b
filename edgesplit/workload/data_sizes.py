"""Byte counts for tasks that have none (trace and Poisson tasks): a log-normal model tied to compute, or per-cycle.

The models and where their default parameters come from are in docs/trace.md, "Data sizes".
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from edgesplit.workload.dag import Task

if TYPE_CHECKING:
    from edgesplit.scenario.workload import DataModel

_STD_NORMAL = NormalDist()
# Exponents are capped here before exp(): the results are clipped to max_bytes (at most 1e30) anyway, and a huge
# but finite sigma must clip, not raise OverflowError.
_MAX_EXPONENT = 700.0


def size_tasks(tasks: Sequence[Task], data: DataModel, seed: int | str) -> None:
    """Set `input_bytes` and `output_bytes` of `tasks` under `data`, drawing in the order given.

    `lognormal` draws from its own stream, `random.Random(f"{seed}:data")`, two normals per task in task order,
    so sizes depend only on the seed, the data model and the tasks' cycles, never on other random draws.
    """
    if data.model == "per-cycle":
        for t in tasks:
            t.input_bytes, t.output_bytes = per_cycle_bytes(t.cycles, data)
        return
    z_cycles = cycle_scores([t.cycles for t in tasks])
    rng = random.Random(f"{seed}:data")
    own_weight = math.sqrt(max(0.0, 1.0 - data.rho * data.rho))
    log_median = math.log(data.input_median_bytes)
    for t, z_c in zip(tasks, z_cycles, strict=True):
        z_own = rng.gauss(0.0, 1.0)
        z_out = rng.gauss(0.0, 1.0)
        z = data.rho * z_c + own_weight * z_own
        inp = math.exp(min(log_median + data.input_sigma * z, _MAX_EXPONENT))
        inp = min(max(inp, data.min_bytes), data.max_bytes)
        out = inp * data.output_ratio * math.exp(min(data.output_sigma * z_out, _MAX_EXPONENT))
        t.input_bytes, t.output_bytes = inp, min(out, data.max_bytes)


def per_cycle_bytes(cycles: float, data: DataModel) -> tuple[float, float]:
    """The per-cycle rule: input bits = cycles / cycles_per_bit (clipped to the byte bounds); output = input x ratio."""
    inp = min(max(cycles / data.cycles_per_bit / 8.0, data.min_bytes), data.max_bytes)
    return inp, inp * data.output_ratio


def cycle_scores(cycles: Sequence[float]) -> list[float]:
    """Standardised normal scores of `cycles` by rank: the Gaussian-copula stand-in for standardised log-cycles.

    Ranks, not log-cycles, so that log(size) stays normal whatever the shape of the cycles' distribution. Tied
    values share their mid-rank's score; the scores are then centred and scaled to unit variance, so that ties
    (whole-second trace durations) do not shrink the spread of log(size). All-equal cycles score 0.
    """
    n = len(cycles)
    if n == 0:
        return []
    x = np.asarray(cycles, dtype=float)
    order = np.argsort(x, kind="stable")
    _, first, counts = np.unique(x[order], return_index=True, return_counts=True)
    mid_rank = first + (counts - 1) / 2.0  # one per distinct value, in ascending order
    group_z = np.array([_STD_NORMAL.inv_cdf(p) for p in ((mid_rank + 0.5) / n).tolist()])
    z = np.empty(n)
    z[order] = np.repeat(group_z, counts)
    sd = float(z.std())
    if sd == 0.0:
        return [0.0] * n
    return ((z - z.mean()) / sd).tolist()
