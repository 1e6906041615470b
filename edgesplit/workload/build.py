"""Turns a scenario's workload section into Jobs: source, cycles and bytes models, arrivals, devices, deadlines."""

from __future__ import annotations

import math
import os
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from edgesplit.workload import alibaba, calibrated
from edgesplit.workload.dag import Job, Task, link_children, upward_ranks
from edgesplit.workload.data_sizes import size_tasks
from edgesplit.workload.sources import SourceJobs, get_source, register_source
from edgesplit.workload.synthetic import chain_jobs, poisson_jobs
from edgesplit.workload.trace_types import RepairStats, TraceJob

if TYPE_CHECKING:
    from edgesplit.model.profiles import Profile
    from edgesplit.scenario import Scenario


@dataclass
class BuiltWorkload:
    """Jobs ready for an engine, with where they came from."""

    jobs: list[Job]
    tasks: list[Task]
    source: str  # one line for the summary, e.g. "alibaba-v2018 trace file X" or "generator calibrated to ..."
    real_trace: bool
    repair: dict[str, int] = field(default_factory=dict)


class TraceSet(NamedTuple):
    """The trace-like jobs of a scenario (a real trace file or the calibrated generator), before conversion."""

    jobs: list[TraceJob]
    source: str
    real_trace: bool
    repair: dict[str, int]


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
    """Jobs for `sc` from the source registered for its `workload.source`, mapped onto `devices` (their
    profiles, index = device)."""
    built = get_source(sc.workload.source)(sc, devices)
    return _finish(sc, built, [p.cpu_hz for p in devices])


def build_window(
    sc: Scenario, jobs: list[TraceJob], device_hz: list[float], source: str, real_trace: bool
) -> BuiltWorkload:
    """Jobs for a window of trace-like jobs (e.g. a slice of `trace_jobs(sc).jobs`) under `sc`: converted,
    re-timed when arrivals are Poisson, and mapped onto devices of speeds `device_hz` as `build_workload` does."""
    return _finish(sc, SourceJobs(_trace_window(sc, jobs), source, real_trace, remap=True), device_hz)


def trace_jobs(sc: Scenario) -> TraceSet:
    """The scenario's trace-like jobs: its trace file (or the fetched one) when the source is `trace` and one is
    found, else jobs from the generator calibrated to Alibaba v2018."""
    w = sc.workload
    t = w.trace
    path = t.path if w.source == "trace" else None
    if path is None and w.source == "trace":
        path = fetched_trace()
    if path is not None:
        stats = RepairStats()
        first = t.sample == "first"
        jobs = alibaba.read_trace(
            path, t.format, start_s=t.start_s, end_s=t.end_s, max_jobs=t.max_jobs if first else None,
            skip_bad_lines=t.skip_bad_lines, stats=stats,
        )  # fmt: skip
        counters = {k: int(v) for k, v in vars(stats).items() if isinstance(v, int | float)}
        where = "" if first else f", {t.sample} sample of {t.max_jobs} (seed {sc.seed})"
        if not first:
            jobs = sample_jobs(jobs, t.sample, t.max_jobs, sc.seed)  # type: ignore[arg-type]
        return TraceSet(jobs, f"{t.format} trace {path}{where}", True, counters)
    n = t.max_jobs or w.synthetic.jobs
    jobs = calibrated.generate_jobs(n, seed=sc.seed)
    why = "no real trace file found" if w.source == "trace" else "synthetic source"
    return TraceSet(jobs, f"generator calibrated to Alibaba v2018 statistics ({why})", False, {})


def sample_jobs(jobs: list[TraceJob], how: str, n: int, seed: int) -> list[TraceJob]:
    """`n` of a trace's jobs as `trace.sample` says, from the stream `{seed}:trace-sample`: a contiguous
    `window` starting at a drawn place, or a `bootstrap` sample (with replacement, kept in trace order; a job
    drawn again is renamed `name#k`). A window of a trace with fewer than `n` jobs is all of them."""
    rng = random.Random(f"{seed}:trace-sample")
    if len(jobs) <= n and how == "window":
        return jobs
    if how == "window":
        start = rng.randrange(len(jobs) - n + 1)
        return jobs[start : start + n]
    picks = sorted(rng.randrange(len(jobs)) for _ in range(n))
    out, seen = [], {}
    for i in picks:
        k = seen.get(i, 0)
        seen[i] = k + 1
        out.append(jobs[i] if k == 0 else TraceJob(f"{jobs[i].name}#{k}", jobs[i].tasks))
    return out


def poisson_arrivals(sc: Scenario, jobs: list[Job]) -> None:
    """Re-time `jobs` (in their trace order) as a Poisson stream at the scenario's arrival rate."""
    rng = random.Random(f"{sc.seed}:arrivals")
    t = 0.0
    for job in sorted(jobs, key=lambda j: (j.arrival_s, j.name)):
        t += rng.expovariate(sc.workload.arrival.rate_per_s)
        job.arrival_s = t


# ---------------------------------------------------------------------------------------- built-in sources


def _trace_source(sc: Scenario, devices: list[Profile]) -> SourceJobs:
    found = trace_jobs(sc)
    return SourceJobs(_trace_window(sc, found.jobs), found.source, found.real_trace, found.repair, remap=True)


def _synthetic_source(sc: Scenario, devices: list[Profile]) -> SourceJobs:
    s = sc.workload.synthetic
    n_dev = len(devices)
    if s.kind == "chain":
        jobs = chain_jobs(n_dev, s.iterations, s.local_cycles, s.offload_cycles, s.input_bytes, s.output_bytes)
        return SourceJobs(jobs, "synthetic chain per device")
    if s.kind == "poisson":
        rng = random.Random(f"{sc.seed}:poisson")
        specs = poisson_jobs(s.jobs, s.rate_per_s, s.mean_cycles, n_dev, rng)
        jobs = []
        for i, (arrival, cycles) in enumerate(specs):
            jobs.append(Job(i, f"p{i}", arrival, -1, [Task(i, i, f"p{i}", cycles, 0.0, 0.0)]))
        size_tasks([j.tasks[0] for j in jobs], sc.workload.data, sc.seed)
        return SourceJobs(jobs, "synthetic Poisson stream", remap=True)
    return _trace_source(sc, devices)  # "calibrated": the generator's trace-like jobs, as for a trace


register_source("trace", _trace_source)
register_source("synthetic", _synthetic_source)


# ---------------------------------------------------------------------------------------- conversion


def _trace_window(sc: Scenario, trace: list[TraceJob]) -> list[Job]:
    """Jobs of trace-like jobs, re-timed as a Poisson stream when the scenario's arrivals are Poisson."""
    jobs = _from_trace(sc, trace)
    if sc.workload.arrival.kind == "poisson":
        poisson_arrivals(sc, jobs)
    return jobs


def _from_trace(sc: Scenario, trace: list[TraceJob]) -> list[Job]:
    c = sc.workload.cycles
    jobs: list[Job] = []
    uid = 0
    t0 = min((j.arrival_s for j in trace), default=0.0)
    for j_index, tj in enumerate(trace):
        keys = {}
        tasks: list[Task] = []
        for tt in tj.tasks:
            cores = (tt.plan_cpu or 100.0) / 100.0
            cycles = max(tt.duration_s * cores * c.reference_hz * c.scale, c.min_cycles)
            task = Task(uid, j_index, tt.name, cycles, 0.0, 0.0, status=tt.status)  # bytes: size_tasks below
            task.trace_duration_s = tt.duration_s
            task.plan_cpu = tt.plan_cpu
            keys[tt.key] = uid
            tasks.append(task)
            uid += 1
        for tt, task in zip(tj.tasks, tasks, strict=True):
            task.parents = [keys[k] for k in tt.deps]
        arrival = (tj.arrival_s - t0) / sc.workload.arrival.time_scale
        jobs.append(Job(j_index, tj.name, arrival, -1, tasks))
    size_tasks([t for job in jobs for t in job.tasks], sc.workload.data, sc.seed)  # in trace order
    return jobs


def _finish(sc: Scenario, built: SourceJobs, device_hz: list[float]) -> BuiltWorkload:
    """Renumber jobs and tasks in arrival order, map jobs to devices, set priorities and deadlines."""
    w = sc.workload
    jobs = built.jobs
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
        if built.remap:
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
    return BuiltWorkload(jobs, tasks, built.source, built.real_trace, built.repair)
