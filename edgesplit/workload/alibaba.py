"""Streaming readers for the Alibaba cluster-trace v2018 and v2017 batch_task files (repair in `repair`)."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import math
import re
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from edgesplit.workload.repair import repair_job
from edgesplit.workload.trace_types import FORMATS, RepairStats, TraceError, TraceFormat, TraceJob, TraceTask

TRUNCATED_NAME_LEN = 50  # the trace cut task names at 50 characters
_DAG_NAME = re.compile(r"[A-Za-z]+(\d+)((?:_\d*)*)")

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


def _build_job(job_name: str, rows: list[_Row], fmt: str, stats: RepairStats) -> TraceJob:
    """Turn one job's rows into a TraceJob: keys, deduplicated rows, then the repairs of `repair_job`."""
    dag = fmt == "alibaba-v2018"
    tasks: list[TraceTask] = []
    seen: set[str] = set()
    truncated: set[str] = set()
    for line, name, inst, ttype, status, start, end, cpu, mem in rows:
        if dag:
            key, deps, was_cut = parse_task_name(name)
        else:
            key, deps, was_cut = name, [], False
        if key in seen:  # keep the first row of a key, drop later ones
            stats.duplicate_tasks += 1
            continue
        if was_cut:
            stats.truncated_names += 1
            truncated.add(key)
        if len(deps) > 1:
            deps = list(dict.fromkeys(deps))  # a parent named twice counts once
        task = TraceTask(name, key, deps, inst, ttype, status, start, end, cpu, mem, line)
        seen.add(key)
        tasks.append(task)

    repair_job(tasks, truncated, stats)
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
