"""Synthetic workloads: Poisson streams of independent tasks and per-device chains (the star benchmark)."""

from __future__ import annotations

import math
import random

from edgesplit.workload.dag import Job, Task


def poisson_jobs(
    n_jobs: int, rate_per_s: float, mean_cycles: float, n_devices: int, rng: random.Random
) -> list[tuple[float, float]]:
    """(arrival, cycles) of `n_jobs` single-task jobs; cycles are log-normal (sigma 1) with mean `mean_cycles`."""
    sigma = 1.0
    mu = math.log(mean_cycles) - sigma**2 / 2
    t = 0.0
    out = []
    for _ in range(n_jobs):
        t += rng.expovariate(rate_per_s)
        out.append((t, rng.lognormvariate(mu, sigma)))
    return out


def chain_jobs(
    n_devices: int,
    iterations: int,
    local_cycles: float,
    offload_cycles: float,
    input_bytes: float,
    output_bytes: float,
) -> list[Job]:
    """One job per device: `iterations` rounds of a local task (pinned) then an offloadable task, in sequence."""
    jobs: list[Job] = []
    uid = 0
    for d in range(n_devices):
        tasks: list[Task] = []
        prev: int | None = None
        for i in range(iterations):
            for kind, cycles, inp, out, pin in (
                ("L", local_cycles, 0.0, 0.0, "local"),
                ("O", offload_cycles, input_bytes, output_bytes, None),
            ):
                t = Task(uid, d, f"{kind}{i}", cycles, inp, out, parents=[] if prev is None else [prev], pin=pin)
                tasks.append(t)
                prev = uid
                uid += 1
        jobs.append(Job(uid=d, name=f"chain{d}", arrival_s=0.0, device=d, tasks=tasks))
        prev = None
    return jobs
