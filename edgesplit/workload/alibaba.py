"""Streaming readers for the Alibaba cluster-trace v2018 and v2017 batch_task files, with DAG repair."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import math
import re
import statistics
import sys
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np

from edgesplit.errors import UserError

TraceFormat = Literal["alibaba-v2018", "alibaba-v2017"]
FORMATS: tuple[str, ...] = ("alibaba-v2018", "alibaba-v2017")

V2018_COLUMNS = (
    "task_name",
    "instance_num",
    "job_name",
    "task_type",
    "status",
    "start_time",
    "end_time",
    "plan_cpu",
    "plan_mem",
)
TRUNCATED_NAME_LEN = 50  # the trace cut task names at 50 characters
_DAG_NAME = re.compile(r"[A-Za-z]+(\d+)((?:_\d*)*)")


class TraceError(UserError):
    """A trace file that cannot be read: missing, unreadable, or a malformed line (with file:line)."""


@dataclass(slots=True)
class TraceTask:
    """One row of batch_task: a task of a job, with its dependencies already repaired.

    `key` identifies the task inside its job ("5" for `M5_3_4`, the whole name for `task_*` names);
    `deps` are parent keys. Times are the trace's seconds; 0 means "unknown" in the trace.
    """

    name: str
    key: str
    deps: list[str]
    instance_num: int
    task_type: str
    status: str
    start_s: float
    end_s: float
    plan_cpu: float
    plan_mem: float
    line: int
    imputed_s: float = 1.0  # duration used when the recorded times are not usable (see duration_s)

    @property
    def has_valid_times(self) -> bool:
        """Both times known (non-zero) and end after start."""
        return self.start_s != 0 and self.end_s != 0 and self.end_s > self.start_s

    @property
    def duration_s(self) -> float:
        """end - start when both are known and end > start, else the imputed duration.

        The reader sets `imputed_s` to 1 s when end == start (the task finished within the trace's 1 s
        resolution) and otherwise (a time missing / 0, or end < start as for Running rows) to the median
        of the job's valid durations, or 1 s when the job has none.
        """
        return self.end_s - self.start_s if self.has_valid_times else self.imputed_s


@dataclass(slots=True)
class TraceJob:
    """A job of the trace: its tasks in file order."""

    name: str
    tasks: list[TraceTask]

    @property
    def arrival_s(self) -> float:
        """The earliest non-zero start time of its tasks (0 marks a task that never started); 0 if none."""
        return _arrival(t.start_s for t in self.tasks)


@dataclass
class RepairStats:
    """Counters filled while reading a trace: what was read, skipped, filtered out and repaired."""

    rows: int = 0  # data rows read (all jobs, before filters)
    header_lines: int = 0
    skipped_lines: int = 0  # malformed lines skipped with skip_bad_lines
    skipped_line_numbers: list[int] = field(default_factory=list)  # the first 10 of them
    jobs: int = 0  # jobs returned
    tasks: int = 0  # tasks returned
    filtered_jobs: int = 0  # jobs left out by the time window or max_jobs
    truncated_names: int = 0  # 50-character names whose last token was dropped
    duplicate_tasks: int = 0  # later rows repeating a task key already seen in the job (dropped)
    dropped_self_deps: int = 0  # a task listed as its own parent
    dropped_cycle_deps: int = 0  # dependencies that closed a cycle
    dropped_dangling_deps: int = 0  # dependencies on keys the job does not have
    imputed_durations: int = 0  # tasks whose duration_s is imputed


# A compact row kept while reading: (line, task_name, instance_num, task_type, status, start, end, cpu, mem).
_Row = tuple[int, str, int, str, str, float, float, float, float]


def parse_task_name(name: str) -> tuple[str, list[str], bool]:
    """Split a v2018 task name into (key, parent keys, truncated).

    `M5_3_4` -> ("5", ["3", "4"], False). Names that are not of that shape (`task_<hash>`, anything
    else) are independent tasks keyed by the whole name. A DAG name exactly 50 characters long was
    truncated by the trace: its last `_` token (possibly a cut-off number) is dropped.
    """
    m = _DAG_NAME.fullmatch(name)
    if m is None:
        return name, [], False
    tokens = name.split("_")
    truncated = len(name) == TRUNCATED_NAME_LEN
    if truncated:
        tokens = tokens[:-1]
    deps = [sys.intern(str(int(tok))) for tok in tokens[1:] if tok]  # shared: ids repeat a lot
    return sys.intern(str(int(m.group(1)))), deps, truncated


# --------------------------------------------------------------------------- file access


@contextlib.contextmanager
def open_trace_text(path: str | Path) -> Iterator[TextIO]:
    """Open a trace as text: a plain .csv, a .gz, or a .tar.gz/.tgz holding one .csv (streamed)."""
    p = Path(path)
    if not p.is_file():
        raise TraceError("no such trace file" if not p.exists() else "not a file", where=str(p))
    name = p.name.lower()
    try:
        if name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(p, "r:gz") as tar:
                for member in tar:
                    if member.isfile() and member.name.lower().endswith(".csv"):
                        raw = tar.extractfile(member)
                        assert raw is not None
                        with io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
                            yield text
                        return
            raise TraceError("the archive holds no .csv file", where=str(p))
        elif name.endswith(".gz"):
            with gzip.open(p, "rt", encoding="utf-8", newline="") as text:
                yield text
        else:
            with open(p, encoding="utf-8", newline="") as text:
                yield text
    except (OSError, EOFError, tarfile.TarError, UnicodeDecodeError) as err:
        raise TraceError(f"cannot read the trace: {err}", where=str(p)) from err


def _number(text: str, what: str) -> float:
    """A numeric field (float() accepts "1.0" and surrounding spaces); empty reads as 0."""
    try:
        value = float(text)
    except ValueError:
        if not text.strip():
            return 0.0
        raise ValueError(f"{what} is not a number: {text.strip()!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} is not finite: {text.strip()!r}")
    return value


def _parse_v2018(fields: list[str]) -> tuple[str, str, int, str, str, float, float, float, float]:
    if len(fields) != 9:
        raise ValueError(f"expected 9 columns (v2018 batch_task), found {len(fields)}")
    name, inst, job, ttype, status, start, end, cpu, mem = fields
    name, job = name.strip(), job.strip()
    if not name or not job:
        raise ValueError("empty task_name or job_name")
    return (
        job,
        name,
        int(_number(inst, "instance_num")),
        ttype.strip(),
        status.strip(),
        _number(start, "start_time"),
        _number(end, "end_time"),
        _number(cpu, "plan_cpu"),
        _number(mem, "plan_mem"),
    )


def _parse_v2017(fields: list[str]) -> tuple[str, str, int, str, str, float, float, float, float]:
    if len(fields) != 8:
        raise ValueError(f"expected 8 columns (v2017 batch_task), found {len(fields)}")
    start, end, job, task, inst, status, cpu, mem = fields
    job, task = job.strip(), task.strip()
    if not job or not task:
        raise ValueError("empty job_id or task_id")
    return (
        job,
        task,
        int(_number(inst, "instance_num")),
        "",
        status.strip(),
        _number(start, "create_time"),
        _number(end, "end_time"),
        _number(cpu, "cpus_requested"),
        _number(mem, "memory_requested"),
    )


def _is_header(fmt: str, fields: list[str]) -> bool:
    first = fields[0].strip().lower() if fields else ""
    if fmt == "alibaba-v2018":
        return first == "task_name"
    try:  # v2017: the uploaded sample starts with a line of column names
        float(first)
    except ValueError:
        return True
    return False


def _iter_rows(path: str | Path, fmt: str, skip_bad_lines: bool, stats: RepairStats) -> Iterator[tuple[str, _Row]]:
    """Yield (job_name, compact row) for every data line, lazily."""
    parse = _parse_v2018 if fmt == "alibaba-v2018" else _parse_v2017
    shared: dict[Any, Any] = {}  # one object per distinct status, type, plan_cpu, plan_mem (memory)
    with open_trace_text(path) as text:
        reader = csv.reader(text)
        try:
            for fields in reader:
                line = reader.line_num
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                if line == 1 and _is_header(fmt, fields):
                    stats.header_lines += 1
                    continue
                try:
                    job, name, inst, ttype, status, start, end, cpu, mem = parse(fields)
                except ValueError as err:
                    if not skip_bad_lines:
                        raise TraceError(f"malformed line: {err}", where=f"{path}:{line}") from None
                    stats.skipped_lines += 1
                    if len(stats.skipped_line_numbers) < 10:
                        stats.skipped_line_numbers.append(line)
                    continue
                stats.rows += 1
                ttype, status = shared.setdefault(ttype, ttype), shared.setdefault(status, status)
                cpu, mem = shared.setdefault(cpu, cpu), shared.setdefault(mem, mem)
                yield job, (line, name, inst, ttype, status, start, end, cpu, mem)
        except csv.Error as err:
            raise TraceError(f"malformed CSV: {err}", where=f"{path}:{reader.line_num}") from None


def _arrival(starts: Iterable[float]) -> float:
    return min((s for s in starts if s != 0), default=0.0)


# --------------------------------------------------------------------------- DAG repair


def _has_cycle(keys: list[str], deps: dict[str, list[str]]) -> bool:
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
    """Drop the dependencies that close cycles (rule in `read_v2018`); returns how many were dropped."""
    if not _has_cycle(keys, deps):
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


def _build_job(job_name: str, rows: list[_Row], fmt: str, stats: RepairStats) -> TraceJob:
    """Turn one job's rows into a TraceJob: keys, repaired deps, imputed durations."""
    dag = fmt == "alibaba-v2018"
    tasks: list[TraceTask] = []
    by_key: dict[str, TraceTask] = {}
    truncated: set[str] = set()
    for line, name, inst, ttype, status, start, end, cpu, mem in rows:
        if dag:
            key, deps, was_cut = parse_task_name(name)
        else:
            key, deps, was_cut = name, [], False
        if key in by_key:  # keep the first row of a key, drop later ones
            stats.duplicate_tasks += 1
            continue
        if was_cut:
            stats.truncated_names += 1
            truncated.add(key)
        if len(deps) > 1:
            deps = list(dict.fromkeys(deps))  # a parent named twice counts once
        task = TraceTask(name, key, deps, inst, ttype, status, start, end, cpu, mem, line)
        by_key[key] = task
        tasks.append(task)

    deps_of: dict[str, list[str]] = {}
    for t in tasks:
        kept = []
        for p in t.deps:
            if p == t.key:
                stats.dropped_self_deps += 1
            elif p not in by_key:
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
    return TraceJob(job_name, tasks)


# --------------------------------------------------------------------------- readers


def _read(
    path: str | Path,
    fmt: str,
    start_s: float | None,
    end_s: float | None,
    max_jobs: int | None,
    skip_bad_lines: bool,
    stats: RepairStats | None,
) -> list[TraceJob]:
    if fmt not in FORMATS:
        raise TraceError(f"unknown trace format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if max_jobs is not None and max_jobs < 0:
        raise TraceError(f"max_jobs must be >= 0, got {max_jobs}")
    stats = stats if stats is not None else RepairStats()

    selected: set[str] | None = None
    if start_s is not None or end_s is not None or max_jobs is not None:
        # First pass: only each job's arrival, so the second pass keeps rows of selected jobs only.
        first: dict[str, float] = {}
        for job, row in _iter_rows(path, fmt, skip_bad_lines, RepairStats()):
            start, cur = row[5], first.get(job)
            if cur is None or (start != 0 and (cur == 0 or start < cur)):
                first[job] = start
        lo = -math.inf if start_s is None else start_s
        hi = math.inf if end_s is None else end_s
        chosen = sorted((a, j) for j, a in first.items() if lo <= a < hi)
        if max_jobs is not None:
            chosen = chosen[:max_jobs]
        selected = {j for _, j in chosen}
        stats.filtered_jobs += len(first) - len(selected)
        del first, chosen

    rows_of: dict[str, list[_Row]] = {}
    for job, row in _iter_rows(path, fmt, skip_bad_lines, stats):
        if selected is None or job in selected:
            rows_of.setdefault(job, []).append(row)

    # pop() frees each job's rows once its TraceJob is built
    jobs = [_build_job(name, rows_of.pop(name), fmt, stats) for name in list(rows_of)]
    jobs.sort(key=lambda j: (j.arrival_s, j.name))
    stats.jobs += len(jobs)
    stats.tasks += sum(len(j.tasks) for j in jobs)
    return jobs


def read_v2018(
    path: str | Path,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    max_jobs: int | None = None,
    skip_bad_lines: bool = False,
    stats: RepairStats | None = None,
) -> list[TraceJob]:
    """Read a cluster-trace-v2018 batch_task file (.csv, .gz or .tar.gz; header row optional).

    Rows are streamed with the csv module; only compact per-job tuples of selected jobs are kept.
    Every row is kept whatever its status, so DAGs stay whole. Repairs, all counted in `stats`:
      * a DAG name exactly 50 characters long was truncated: its last `_` token is dropped;
      * a later row repeating a task key already seen in the job is dropped (the first row wins);
      * a parent named twice counts once; a task listed as its own parent loses that dependency;
      * a parent key the job does not have (rows missing from the file) is dropped;
      * cycles: dependencies are added one by one -- first those of tasks with intact names, then
        those of tasks with truncated names, each group in file order, each task's parents in name
        order -- and one whose parent is already reachable from the task (it would close a cycle)
        is dropped. The suspect trailing ids of truncated names are thus the first to go.
    Durations: see `TraceTask.duration_s`. Selection: `start_s`/`end_s` keep jobs whose arrival
    (earliest non-zero start over all their rows) is in [start_s, end_s); `max_jobs` then keeps the
    first N by (arrival, job name); with either the file is read twice, the first time for arrivals
    only. Jobs come back in (arrival_s, name) order, tasks in file order. A malformed line (wrong
    column count, a non-numeric number) raises TraceError naming file:line, or with `skip_bad_lines`
    is skipped and counted. Empty numeric fields read as 0.
    """
    return _read(path, "alibaba-v2018", start_s, end_s, max_jobs, skip_bad_lines, stats)


def read_v2017(
    path: str | Path,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    max_jobs: int | None = None,
    skip_bad_lines: bool = False,
    stats: RepairStats | None = None,
) -> list[TraceJob]:
    """Read a cluster-trace-v2017 batch_task file: create_time, end_time, job_id, task_id,
    instance_num, status, cpus per instance (100 = one core), normalised memory.

    The trace has no DAG information, so every task is independent (key = task_id); create_time is
    used as the task's start. A first line of column names is skipped. Filters, ordering, errors and
    duplicate handling are as in `read_v2018`.
    """
    return _read(path, "alibaba-v2017", start_s, end_s, max_jobs, skip_bad_lines, stats)


def read_trace(path: str | Path, fmt: TraceFormat, **kw: Any) -> list[TraceJob]:
    """Read a trace in the named format; keyword arguments as for `read_v2018`."""
    if fmt == "alibaba-v2018":
        return read_v2018(path, **kw)
    if fmt == "alibaba-v2017":
        return read_v2017(path, **kw)
    raise TraceError(f"unknown trace format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_v2018(jobs: list[TraceJob], path: str | Path, *, header: bool = False) -> None:
    """Write jobs as a v2018 batch_task CSV (no header by default, like the raw trace)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        if header:
            out.writerow(V2018_COLUMNS)
        for job in jobs:
            for t in job.tasks:
                out.writerow(
                    [
                        t.name,
                        t.instance_num,
                        job.name,
                        t.task_type,
                        t.status,
                        _num_text(t.start_s),
                        _num_text(t.end_s),
                        _num_text(t.plan_cpu),
                        _num_text(t.plan_mem),
                    ]
                )


def _num_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


# --------------------------------------------------------------------------- statistics


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
    return _has_cycle(keys, deps)


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
        label = _num_text(t.plan_cpu)
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
