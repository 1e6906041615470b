"""Summary statistics and integrity checks of parsed (or generated) trace jobs."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.workload.alibaba import read_trace
from edgesplit.workload.repair import deps_have_cycle
from edgesplit.workload.trace_types import RepairStats, TraceFormat, TraceJob
from edgesplit.workload.trace_write import num_text


def dangling_deps(job: TraceJob) -> int:
    """Dependencies on keys the job does not have (0 after repair)."""
    keys = {t.key for t in job.tasks}
    return sum(1 for t in job.tasks for p in t.deps if p not in keys)


def has_cycle(job: TraceJob) -> bool:
    """Whether the job's dependency graph has a cycle (False after repair)."""
    keys = list(dict.fromkeys(t.key for t in job.tasks))
    known = set(keys)
    deps: dict[str, list[str]] = {k: [] for k in keys}
    for t in job.tasks:
        deps[t.key].extend(p for p in t.deps if p in known)
    return deps_have_cycle(keys, deps)


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"min": 0.0, "median": 0.0, "p90": 0.0, "max": 0.0, "mean": 0.0}
    a = np.asarray(values, dtype=float)
    return {
        "min": float(a.min()),
        "median": float(np.median(a)),
        "p90": float(np.percentile(a, 90)),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


def jobs_stats(jobs: list[TraceJob]) -> dict[str, Any]:
    """Summary figures of parsed (or generated) jobs: sizes, durations, resources, statuses, checks."""
    tasks = [t for j in jobs for t in j.tasks]
    status: dict[str, int] = {}
    for t in tasks:
        status[t.status] = status.get(t.status, 0) + 1
    cpu_values: dict[str, int] = {}
    for t in tasks:
        label = num_text(t.plan_cpu)
        cpu_values[label] = cpu_values.get(label, 0) + 1
    arrivals = [j.arrival_s for j in jobs]
    return {
        "jobs": len(jobs),
        "tasks": len(tasks),
        "edges": sum(len(t.deps) for t in tasks),
        "dag_jobs": sum(1 for j in jobs if any(t.deps for t in j.tasks)),
        "dag_size": _summary([len(j.tasks) for j in jobs]),
        "duration_s": _summary([t.duration_s for t in tasks]),
        "plan_cpu": _summary([t.plan_cpu for t in tasks]),
        "plan_cpu_values": dict(sorted(cpu_values.items(), key=lambda kv: -kv[1])),
        "instance_num": _summary([t.instance_num for t in tasks]),
        "status": dict(sorted(status.items(), key=lambda kv: -kv[1])),
        "arrival_s": {"first": min(arrivals, default=0.0), "last": max(arrivals, default=0.0)},
        "dangling_deps_remaining": sum(dangling_deps(j) for j in jobs),
        "cycles_remaining": sum(1 for j in jobs if has_cycle(j)),
    }


def trace_stats(path: str | Path, fmt: TraceFormat, **kw: Any) -> dict[str, Any]:
    """Read a trace and summarise it (see `jobs_stats`), with the reader's repair counters."""
    stats = RepairStats()
    jobs = read_trace(path, fmt, stats=stats, **kw)
    out = {"path": str(path), "format": fmt}
    out.update(jobs_stats(jobs))
    out["repairs"] = asdict(stats)
    return out
