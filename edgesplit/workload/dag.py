"""Jobs and tasks as DAGs: dependencies, topological order, upward-rank priorities."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


class DagError(ValueError):
    """A job's dependency graph is not a DAG or names tasks it does not have."""


@dataclass(slots=True)
class Task:
    """One schedulable unit of work.

    `uid` is unique in the whole workload and indexes every engine table. `parents` and `children`
    hold uids. Sizes are in cycles (or FLOPs) and bytes; `pin` forces a placement ("local") regardless of policy.
    """

    uid: int
    job_uid: int
    name: str
    cycles: float
    input_bytes: float
    output_bytes: float
    flops: float = 0.0  # DNN tasks: FLOPs, turned into cycles by each node's flops per cycle (then `cycles` is unused)
    parents: list[int] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    priority: float = 0.0
    pin: str | None = None
    status: str = ""
    trace_duration_s: float = 0.0
    plan_cpu: float = 0.0


@dataclass(slots=True)
class Job:
    """A DAG of tasks that arrives at one device at `arrival_s` and should finish by `deadline_s`."""

    uid: int
    name: str
    arrival_s: float
    device: int
    tasks: list[Task]
    deadline_s: float = float("inf")
    meta: dict[str, object] | None = None  # per-job facts a workload wants in the summary (e.g. cascade outcomes)


def topological_order(tasks: Sequence[Task]) -> list[Task]:
    """Kahn's algorithm over one job's tasks; ties keep the input order. Raises DagError on a cycle."""
    by_uid = {t.uid: t for t in tasks}
    pending = {t.uid: 0 for t in tasks}
    for t in tasks:
        for p in t.parents:
            if p not in by_uid:
                raise DagError(f"task {t.name!r} depends on a task outside its job (uid {p})")
            pending[t.uid] += 1
    ready = [t for t in tasks if pending[t.uid] == 0]
    order: list[Task] = []
    i = 0
    while i < len(ready):
        t = ready[i]
        i += 1
        order.append(t)
        for c in t.children:
            pending[c] -= 1
            if pending[c] == 0:
                ready.append(by_uid[c])
    if len(order) != len(tasks):
        stuck = sorted(by_uid[u].name for u, n in pending.items() if n > 0)
        raise DagError(f"dependency cycle among tasks {stuck[:5]}")
    return order


def link_children(tasks: Sequence[Task]) -> None:
    """Fill each task's `children` from the `parents` lists (idempotent)."""
    by_uid = {t.uid: t for t in tasks}
    for t in tasks:
        t.children.clear()
    for t in tasks:
        for p in t.parents:
            by_uid[p].children.append(t.uid)


def upward_ranks(
    tasks: Sequence[Task], cost: Callable[[Task], float], comm: Callable[[Task], float] | None = None
) -> dict[int, float]:
    """HEFT's upward rank: rank(t) = cost(t) + max over children c of (comm(t) + rank(c)).

    `cost` is a task's mean execution time over the targets, `comm` the mean time to move its output.
    """
    # Tasks listed parents-first (uids increasing along every edge) need no sorting.
    in_order = all(p < t.uid for t in tasks for p in t.parents) and all(
        a.uid < b.uid for a, b in zip(tasks, tasks[1:], strict=False)
    )
    order = list(tasks) if in_order else topological_order(tasks)
    rank: dict[int, float] = {}
    for t in reversed(order):
        tail = 0.0
        for c in t.children:
            if rank[c] > tail:
                tail = rank[c]
        extra = comm(t) if (comm is not None and t.children) else 0.0
        rank[t.uid] = cost(t) + extra + tail
    return rank
