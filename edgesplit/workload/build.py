"""Turns a scenario's workload section into Jobs: source, cycles and bytes models, arrivals, devices, deadlines."""

from __future__ import annotations

import math
import os
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgesplit.workload.dag import Job, Task, link_children, upward_ranks
from edgesplit.workload.synthetic import chain_jobs, poisson_jobs

if TYPE_CHECKING:
    from edgesplit.model.profiles import Profile
    from edgesplit.scenario import Scenario
    from edgesplit.workload.alibaba import TraceJob


@dataclass
class BuiltWorkload:
    """Jobs ready for an engine, with where they came from."""

    jobs: list[Job]
    tasks: list[Task]
    source: str  # one line for the summary, e.g. "alibaba-v2018 trace file X" or "generator calibrated to ..."
    real_trace: bool
    repair: dict[str, int] = field(default_factory=dict)


def cache_dir() -> Path:
    """Where fetched traces and decoded datasets live ($EDGESPLIT_CACHE, else ~/.cache/edgesplit)."""
    return Path(os.environ.get("EDGESPLIT_CACHE", Path.home() / ".cache" / "edgesplit"))


def fetched_trace() -> Path | None:
    """The v2018 batch_task file that `edgesplit trace fetch` downloaded, if any."""
    for name in ("batch_task.csv", "batch_task.tar.gz"):
        p = cache_dir() / "traces" / name
        if p.is_file():
            return p
    return None


def build_workload(sc: Scenario, devices: list[Profile]) -> BuiltWorkload:
    """Jobs for `sc`, mapped onto `devices` (their profiles, index = device)."""
    w = sc.workload
    n_dev = len(devices)
    device_hz = [p.cpu_hz for p in devices]
    if w.source == "cascade":
        jobs = _cascade_jobs(sc, devices)
        return _finish(sc, jobs, device_hz, f"cascade requests from {w.cascade.checkpoint}", real=False, repair={})
    if w.source == "dnn":
        from edgesplit.workload.dnn import dnn_jobs

        jobs = dnn_jobs(w.dnn, sc.seed, n_dev, [p.flops_per_cycle for p in devices])
        source = f"split-model requests ({w.dnn.model_id} from {w.dnn.models}, {w.dnn.dataset} test images)"
        return _finish(sc, jobs, device_hz, source, real=False, repair={})
    if w.source == "synthetic" and w.synthetic.kind == "chain":
        s = w.synthetic
        jobs = chain_jobs(n_dev, s.iterations, s.local_cycles, s.offload_cycles, s.input_bytes, s.output_bytes)
        return _finish(sc, jobs, device_hz, "synthetic chain per device", real=False, repair={})
    if w.source == "synthetic" and w.synthetic.kind == "poisson":
        rng = random.Random(f"{sc.seed}:poisson")
        specs = poisson_jobs(w.synthetic.jobs, w.synthetic.rate_per_s, w.synthetic.mean_cycles, n_dev, rng)
        jobs = []
        for i, (arrival, cycles) in enumerate(specs):
            inp, out = _bytes(sc, cycles)
            jobs.append(Job(i, f"p{i}", arrival, -1, [Task(i, i, f"p{i}", cycles, inp, out)]))
        return _finish(sc, jobs, device_hz, "synthetic Poisson stream", real=False, repair={}, remap=True)

    trace_jobs, source, real, repair = _trace_jobs(sc)
    jobs = _from_trace(sc, trace_jobs)
    if w.arrival.kind == "poisson":
        poisson_arrivals(sc, jobs)
    return _finish(sc, jobs, device_hz, source, real=real, repair=repair, remap=True)


def poisson_arrivals(sc: Scenario, jobs: list[Job]) -> None:
    """Re-time `jobs` (in their trace order) as a Poisson stream at the scenario's arrival rate."""
    rng = random.Random(f"{sc.seed}:arrivals")
    t = 0.0
    for job in sorted(jobs, key=lambda j: (j.arrival_s, j.name)):
        t += rng.expovariate(sc.workload.arrival.rate_per_s)
        job.arrival_s = t


def _trace_jobs(sc: Scenario) -> tuple[list[TraceJob], str, bool, dict[str, int]]:
    from edgesplit.workload import alibaba, calibrated

    w = sc.workload
    t = w.trace
    path = t.path if w.source == "trace" else None
    if path is None and w.source == "trace":
        path = fetched_trace()
    if path is not None:
        stats = alibaba.RepairStats()
        jobs = alibaba.read_trace(
            path, t.format, start_s=t.start_s, end_s=t.end_s, max_jobs=t.max_jobs,
            skip_bad_lines=t.skip_bad_lines, stats=stats,
        )  # fmt: skip
        counters = {k: int(v) for k, v in vars(stats).items() if isinstance(v, int | float)}
        return jobs, f"{t.format} trace {path}", True, counters
    n = t.max_jobs or w.synthetic.jobs
    jobs = calibrated.generate_jobs(n, seed=sc.seed)
    why = "no real trace file found" if w.source == "trace" else "synthetic source"
    return jobs, f"generator calibrated to Alibaba v2018 statistics ({why})", False, {}


def _cascade_jobs(sc: Scenario, devices: list[Profile]) -> list[Job]:
    """One job per request of a trained, memoised cascade: model A (with the cache lookup) on the device, then
    model B when A was unsure, on the device or wherever the policy sends it with the image as upload."""
    from edgesplit.cascade.workload import cascade_requests

    c = sc.workload.cascade
    requests = cascade_requests(
        c.checkpoint, c.duplicates, c.perturb, c.requests, seed=sc.seed, capacity=c.cache_capacity
    )
    rng = random.Random(f"{sc.seed}:cascade-arrivals")
    jobs: list[Job] = []
    uid = 0
    t = 0.0
    for j, r in enumerate(requests):
        t += rng.expovariate(c.rate_per_s)
        device = j % len(devices)
        per_cycle = devices[device].flops_per_cycle
        flops_a = r.hash_ops + (0 if r.cache_hit else r.flops_a)
        tasks = [Task(uid, j, "A", flops_a / per_cycle, 0.0, 0.0, flops=flops_a, pin="local")]
        if r.b_invoked:
            pin = "local" if c.model_b == "device" else None
            b = Task(
                uid + 1, j, "B", r.flops_b / per_cycle, r.input_bytes, 40.0, flops=r.flops_b, parents=[uid], pin=pin
            )
            tasks.append(b)
        uid += len(tasks)
        meta = {"cache_hit": r.cache_hit, "b_invoked": r.b_invoked, "correct": r.correct, "repeat": r.repeat}
        jobs.append(Job(j, f"req{r.request_id}", t, device, tasks, meta=meta))
    return jobs


def _bytes(sc: Scenario, cycles: float) -> tuple[float, float]:
    d = sc.workload.data
    inp = min(max(cycles / d.cycles_per_bit / 8.0, d.min_bytes), d.max_bytes)
    return inp, inp * d.output_ratio


def _from_trace(sc: Scenario, trace_jobs: list[TraceJob]) -> list[Job]:
    c = sc.workload.cycles
    jobs: list[Job] = []
    uid = 0
    t0 = min((j.arrival_s for j in trace_jobs), default=0.0)
    for j_index, tj in enumerate(trace_jobs):
        keys = {}
        tasks: list[Task] = []
        for tt in tj.tasks:
            cores = (tt.plan_cpu or 100.0) / 100.0
            cycles = max(tt.duration_s * cores * c.reference_hz * c.scale, c.min_cycles)
            inp, out = _bytes(sc, cycles)
            task = Task(uid, j_index, tt.name, cycles, inp, out, status=tt.status)
            task.trace_duration_s = tt.duration_s
            task.plan_cpu = tt.plan_cpu
            keys[tt.key] = uid
            tasks.append(task)
            uid += 1
        for tt, task in zip(tj.tasks, tasks, strict=True):
            task.parents = [keys[k] for k in tt.deps]
        arrival = (tj.arrival_s - t0) / sc.workload.arrival.time_scale
        jobs.append(Job(j_index, tj.name, arrival, -1, tasks))
    return jobs


def _finish(
    sc: Scenario,
    jobs: list[Job],
    device_hz: list[float],
    source: str,
    *,
    real: bool,
    repair: dict[str, int],
    remap: bool = False,
) -> BuiltWorkload:
    """Renumber jobs and tasks in arrival order, map jobs to devices, set priorities and deadlines."""
    w = sc.workload
    n_dev = len(device_hz)
    jobs.sort(key=lambda j: (j.arrival_s, j.uid))  # builders number jobs deterministically
    rng = random.Random(f"{sc.seed}:mapping")
    tasks: list[Task] = []
    for new_uid, job in enumerate(jobs):
        base = len(tasks)
        if any(t.uid != base + i for i, t in enumerate(job.tasks)):
            old_to_new = {t.uid: base + i for i, t in enumerate(job.tasks)}
            for t in job.tasks:
                t.uid = old_to_new[t.uid]
                t.parents = [old_to_new[p] for p in t.parents]
        for t in job.tasks:
            t.job_uid = new_uid
        link_children(job.tasks)
        tasks.extend(job.tasks)
        job.uid = new_uid
        if remap:
            if w.mapping == "round-robin":
                job.device = new_uid % n_dev
            elif w.mapping == "random":
                job.device = rng.randrange(n_dev)
            else:
                job.device = zlib.crc32(job.name.encode()) % n_dev
        hz = device_hz[job.device]
        ranks = upward_ranks(job.tasks, lambda t, hz=hz: t.cycles / hz)
        for t in job.tasks:
            t.priority = ranks[t.uid]
        factor = w.deadline.factor
        job.deadline_s = math.inf if factor is None else job.arrival_s + factor * max(ranks.values(), default=0.0)
    return BuiltWorkload(jobs, tasks, source, real, repair)
