"""Writes parsed or generated jobs as an Alibaba v2018 batch_task CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from edgesplit.workload.trace_types import V2018_COLUMNS, TraceJob


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
                        num_text(t.start_s),
                        num_text(t.end_s),
                        num_text(t.plan_cpu),
                        num_text(t.plan_mem),
                    ]
                )


def num_text(x: float) -> str:
    """A number as the trace writes it: an integer without a decimal point, else its repr."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))
