"""Shape statistics of trace-like DAG jobs, and the generator-vs-sample comparison built on them.

One function, `shape_stats`, computes the figures that say whether synthetic jobs look like the trace: job
sizes, roots, sinks, DAG depth, task durations and the plan_cpu mix. `bench/generator_fit.py` prints the
comparison table of docs/trace.md with it and tests/test_generator_fit.py asserts the same rows, so the doc,
the script and the test cannot drift apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from edgesplit.workload.trace_types import TraceJob

REL_TOL = 0.25  # every row: |generated - sample| <= 25% of the sample value ...
SHARE_ABS_TOL = 0.01  # ... or, for shares, within 1 percentage point (what decides shares under 4%)
PLAN_CPU_VALUES = (0.0, 50.0, 100.0, 200.0)  # the values the v2018 sample holds; anything else is "other"

Kind = Literal["value", "share"]
# (key, label, kind) in table order.
ROWS: tuple[tuple[str, str, Kind], ...] = (
    ("size_mean", "tasks per job, mean", "value"),
    ("size_median", "tasks per job, median", "value"),
    ("size_p90", "tasks per job, p90", "value"),
    ("size_max", "tasks per job, max", "value"),
    ("single_task", "single-task jobs (share of jobs)", "share"),
    ("size_2_5", "jobs of 2-5 tasks (share)", "share"),
    ("size_6_50", "jobs of 6-50 tasks (share)", "share"),
    ("size_over_50", "jobs of >50 tasks (share)", "share"),
    ("roots_share", "roots (share of tasks)", "share"),
    ("roots_per_job", "roots per job, mean", "value"),
    ("joins_share", "joins, 2+ parents (share of tasks)", "share"),
    ("sinks_per_job", "sinks per job, mean", "value"),
    ("depth_median", "DAG depth, median", "value"),
    ("depth_p90", "DAG depth, p90", "value"),
    ("depth_max", "DAG depth, max", "value"),
    ("duration_median", "task duration s, median", "value"),
    ("duration_p90", "task duration s, p90", "value"),
    ("duration_p99", "task duration s, p99", "value"),
    ("duration_mean", "task duration s, mean", "value"),
    *((f"plan_cpu_{v:g}", f"plan_cpu {v:g} (share of tasks)", "share") for v in PLAN_CPU_VALUES),
    ("plan_cpu_other", "plan_cpu other values (share of tasks)", "share"),
)


class JobShape(NamedTuple):
    """A job's DAG in four numbers: tasks, roots (no parent), sinks (no child), depth (tasks on the longest chain)."""

    tasks: int
    roots: int
    sinks: int
    depth: int


def task_levels(job: TraceJob) -> dict[str, int]:
    """Each task's level: 1 for a root, else 1 + its deepest parent's level. Unknown parents are ignored."""
    keys = {t.key for t in job.tasks}
    deps = {t.key: [p for p in t.deps if p in keys] for t in job.tasks}
    level: dict[str, int] = {}
    for key in deps:  # iterative depth-first walk: chains of 50+ tasks exist and recursion is not needed
        stack = [key]
        while stack:
            k = stack[-1]
            if k in level:
                stack.pop()
                continue
            todo = [p for p in deps[k] if p not in level]
            if todo:
                stack.extend(todo)
            else:
                level[k] = 1 + max((level[p] for p in deps[k]), default=0)
                stack.pop()
    return level


def job_shape(job: TraceJob) -> JobShape:
    """The shape of one job; dependencies on keys the job lacks are ignored (there are none after repair)."""
    level = task_levels(job)
    has_child = {p for t in job.tasks for p in t.deps if p in level}
    roots = sum(1 for t in job.tasks if level[t.key] == 1)
    return JobShape(len(level), roots, len(level) - len(has_child), max(level.values(), default=0))


def shape_stats(jobs: Sequence[TraceJob]) -> dict[str, float]:
    """The figures of `ROWS` for a list of jobs (read from the trace or generated), keyed as in `ROWS`."""
    shapes = np.array([job_shape(j) for j in jobs], dtype=float).reshape(-1, 4)
    size, roots, sinks, depth = shapes.T
    durations = np.array([t.duration_s for j in jobs for t in j.tasks], dtype=float)
    cpu = np.array([t.plan_cpu for j in jobs for t in j.tasks], dtype=float)
    out = {
        "size_mean": size.mean(),
        "size_median": np.median(size),
        "size_p90": np.percentile(size, 90),
        "size_max": size.max(),
        "single_task": np.mean(size == 1),
        "size_2_5": np.mean((size >= 2) & (size <= 5)),
        "size_6_50": np.mean((size >= 6) & (size <= 50)),
        "size_over_50": np.mean(size > 50),
        "roots_share": roots.sum() / size.sum(),
        "roots_per_job": roots.mean(),
        "joins_share": sum(1 for j in jobs for t in j.tasks if len(t.deps) > 1) / size.sum(),
        "sinks_per_job": sinks.mean(),
        "depth_median": np.median(depth),
        "depth_p90": np.percentile(depth, 90),
        "depth_max": depth.max(),
        "duration_median": np.median(durations),
        "duration_p90": np.percentile(durations, 90),
        "duration_p99": np.percentile(durations, 99),
        "duration_mean": durations.mean(),
        "plan_cpu_other": np.mean(~np.isin(cpu, PLAN_CPU_VALUES)),
    }
    for v in PLAN_CPU_VALUES:
        out[f"plan_cpu_{v:g}"] = np.mean(cpu == v)
    return {key: float(out[key]) for key, _, _ in ROWS}


@dataclass(frozen=True)
class FitRow:
    """One row of the comparison: a figure of generated jobs against the same figure of the sample."""

    label: str
    kind: Kind
    generated: float
    sample: float

    @property
    def rel_error(self) -> float:
        """(generated - sample) / sample; inf when the sample value is 0 and the generated one is not."""
        if self.sample == 0:
            return 0.0 if self.generated == 0 else float("inf")
        return (self.generated - self.sample) / self.sample

    @property
    def ok(self) -> bool:
        """Within `REL_TOL` relative, or for shares within `SHARE_ABS_TOL` absolute."""
        if abs(self.rel_error) <= REL_TOL:
            return True
        return self.kind == "share" and abs(self.generated - self.sample) <= SHARE_ABS_TOL


def compare(generated: dict[str, float], sample: dict[str, float]) -> list[FitRow]:
    """Rows of `ROWS` from two `shape_stats` results."""
    return [FitRow(label, kind, generated[key], sample[key]) for key, label, kind in ROWS]


def _fmt(row: FitRow, x: float) -> str:
    return f"{100 * x:.2f}%" if row.kind == "share" else f"{x:,.1f}"


def markdown_table(rows: Sequence[FitRow]) -> str:
    """The comparison as a markdown table: figure, generated, sample, relative error, within tolerance."""
    lines = ["| figure | generator | sample | relative error | within tolerance |", "| --- | --: | --: | --: | --- |"]
    for r in rows:
        err = "n/a (sample 0)" if r.sample == 0 else f"{100 * r.rel_error:+.1f}%"
        if r.kind == "share" and abs(r.rel_error) > REL_TOL:  # decided by the absolute tolerance
            err += f" ({100 * (r.generated - r.sample):+.2f} pp)"
        ok = "yes" if r.ok else "NO"
        lines.append(f"| {r.label} | {_fmt(r, r.generated)} | {_fmt(r, r.sample)} | {err} | {ok} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the generator's tables


def _sig3(x: float) -> float:
    return float(f"{x:.3g}")


def derive_tables(
    jobs: Sequence[TraceJob],
    size_bins: Sequence[tuple[int, int, int]],
    classes: Sequence[tuple[int, int]],
    duration_q: Sequence[float],
) -> dict[str, Any]:
    """The tables of `edgesplit.workload.calibrated`, computed from jobs (the real v2018 sample) for its
    size bins, size classes and duration quantiles; see that module for what each one means."""
    shapes = [job_shape(j) for j in jobs]
    sizes = np.array([s.tasks for s in shapes])
    tables: dict[str, Any] = {
        "SIZE_BINS": tuple((lo, hi, int(((sizes >= lo) & (sizes <= hi)).sum())) for lo, hi, _ in size_bins)
    }
    deciles = np.linspace(0, 100, 11)
    shape_rows = []
    for lo, hi in classes:
        cls = [s for s in shapes if lo <= s.tasks <= hi]
        depth = tuple(sorted(Counter(s.depth for s in cls).items()))
        # u_r and u_k as defined in calibrated.SHAPES; a root that is also a sink can push u_k over 1.
        u_r = [(s.roots - 1) / (s.tasks - s.depth) for s in cls if s.depth >= 2 and s.tasks > s.depth]
        room = [(s, s.tasks - s.depth - s.roots + 1) for s in cls if s.depth >= 3]
        u_k = [min(1.0, (s.sinks - 1) / r) for s, r in room if r > 0]
        q_r = tuple(_sig3(x) for x in np.percentile(u_r, deciles)) if u_r else ()
        q_k = tuple(_sig3(x) for x in np.percentile(u_k, deciles)) if u_k else ()
        shape_rows.append(((lo, hi), depth, q_r, q_k))
    tables["SHAPES"] = tuple(shape_rows)

    by_role: dict[str, list[float]] = {"M": [], "R": [], "J": []}
    for j in jobs:
        for t in j.tasks:
            by_role["M" if not t.deps else ("R" if len(t.deps) == 1 else "J")].append(t.duration_s)
    q = [100 * x for x in duration_q]
    tables["DURATION"] = {k: tuple(round(float(x), 1) for x in np.percentile(v, q)) for k, v in by_role.items()}

    # Sinks beyond the first on the last level, per job of depth 3+ with several sinks (mean share).
    shares = []
    for j, s in zip(jobs, shapes, strict=True):
        if s.depth >= 3 and s.sinks > 1:
            level = task_levels(j)
            has_child = {p for t in j.tasks for p in t.deps}
            last = sum(1 for k, lv in level.items() if lv == s.depth and k not in has_child)
            shares.append((last - 1) / (s.sinks - 1))
    tables["FAN_OUT_P"] = float(np.mean(shares))

    # plan_cpu: the job's value is its most common one among 50 and 100; 0 marks a missing request.
    main = Counter(max((50.0, 100.0), key=[t.plan_cpu for t in j.tasks].count) for j in jobs)
    tables["PLAN_CPU"] = tuple((v, main[v]) for v in (100.0, 50.0))
    missing = [j for j in jobs if any(t.plan_cpu == 0 for t in j.tasks)]
    big = sum(1 for j in jobs if len(j.tasks) > 50)
    big_missing = sum(1 for j in missing if len(j.tasks) > 50)
    tables["CPU_MISSING_JOB_P"] = {
        False: (len(missing) - big_missing) / (len(jobs) - big),
        True: big_missing / big,
    }
    tables["CPU_MISSING_TASK_P"] = sum(t.plan_cpu == 0 for j in missing for t in j.tasks) / sum(
        len(j.tasks) for j in missing
    )
    tables["CPU_200_TASK_P"] = sum(t.plan_cpu == 200 for j in jobs for t in j.tasks) / int(sizes.sum())
    return tables
