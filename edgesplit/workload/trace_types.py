"""Parsed Alibaba batch_task records (TraceJob, TraceTask), the reader's repair counters and its error."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

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


def _arrival(starts: Iterable[float]) -> float:
    return min((s for s in starts if s != 0), default=0.0)
