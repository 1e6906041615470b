"""DAG repair of a parsed trace job: dangling and self dependencies, cycles, and imputed durations."""

from __future__ import annotations

import statistics

from edgesplit.workload.trace_types import RepairStats, TraceTask


def repair_job(tasks: list[TraceTask], truncated: set[str], stats: RepairStats) -> None:
    """Repair one job's tasks in place (rules in `alibaba.read_v2018`): drop self, dangling and cycle-closing
    dependencies, and impute the durations of tasks without usable times; every repair is counted in `stats`.

    `tasks` have unique keys; `truncated` holds the keys of tasks whose names the trace cut.
    """
    known = {t.key for t in tasks}
    deps_of: dict[str, list[str]] = {}
    for t in tasks:
        kept = []
        for p in t.deps:
            if p == t.key:
                stats.dropped_self_deps += 1
            elif p not in known:
                stats.dropped_dangling_deps += 1
            else:
                kept.append(p)
        deps_of[t.key] = kept
    if any(deps_of.values()):
        keys = [t.key for t in tasks]
        stats.dropped_cycle_deps += _break_cycles(keys, deps_of, truncated)
    for t in tasks:
        t.deps = deps_of[t.key]

    invalid = [t for t in tasks if not t.has_valid_times]
    if invalid:
        valid = [t.end_s - t.start_s for t in tasks if t.has_valid_times]
        fill = float(statistics.median(valid)) if valid else 1.0
        stats.imputed_durations += len(invalid)
        for t in invalid:
            t.imputed_s = 1.0 if (t.start_s != 0 and t.end_s == t.start_s) else fill


def deps_have_cycle(keys: list[str], deps: dict[str, list[str]]) -> bool:
    """Kahn's algorithm: True when some tasks can never become ready."""
    pending = {k: len(deps[k]) for k in keys}
    children: dict[str, list[str]] = {k: [] for k in keys}
    for k in keys:
        for p in deps[k]:
            children[p].append(k)
    ready = [k for k in keys if pending[k] == 0]
    done = 0
    while ready:
        k = ready.pop()
        done += 1
        for c in children[k]:
            pending[c] -= 1
            if pending[c] == 0:
                ready.append(c)
    return done != len(keys)


def _break_cycles(keys: list[str], deps: dict[str, list[str]], truncated: set[str]) -> int:
    """Drop the dependencies that close cycles (rule in `alibaba.read_v2018`); returns how many were dropped."""
    if not deps_have_cycle(keys, deps):
        return 0
    order = [k for k in keys if k not in truncated] + [k for k in keys if k in truncated]
    children: dict[str, list[str]] = {k: [] for k in keys}
    kept: dict[str, set[str]] = {k: set() for k in keys}
    dropped = 0
    for task in order:
        for parent in deps[task]:
            if _reaches(children, task, parent):
                dropped += 1
            else:
                children[parent].append(task)
                kept[task].add(parent)
    for task in keys:
        deps[task] = [p for p in deps[task] if p in kept[task]]
    return dropped


def _reaches(children: dict[str, list[str]], src: str, dst: str) -> bool:
    stack, seen = [src], {src}
    while stack:
        k = stack.pop()
        if k == dst:
            return True
        for c in children[k]:
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return False
