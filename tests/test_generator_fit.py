"""The calibrated generator against the real v2018 sample: every row of docs/trace.md's table within tolerance."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgesplit.workload import calibrated
from edgesplit.workload.alibaba import read_v2018
from edgesplit.workload.shape_stats import (
    REL_TOL,
    SHARE_ABS_TOL,
    FitRow,
    compare,
    derive_tables,
    job_shape,
    markdown_table,
    shape_stats,
)
from edgesplit.workload.trace_types import TraceJob, TraceTask

# The sample lives beside the repository (../shared/data/alibaba), never inside it.
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alibaba"
DAGS = DATA / "alibaba_v2018_batch_task_selected_DAGs.csv"
FIT_JOBS, FIT_SEED = 3_000, 1  # bench/generator_fit.py uses 20,000 jobs for the doc; 3,000 keep this fast


@pytest.fixture(scope="module")
def sample() -> list[TraceJob]:
    if not DAGS.is_file():
        pytest.skip(f"real Alibaba sample rows not found at {DAGS}")
    return read_v2018(DAGS)


def test_every_row_is_within_tolerance(sample: list[TraceJob]) -> None:
    rows = compare(shape_stats(calibrated.generate_jobs(FIT_JOBS, seed=FIT_SEED)), shape_stats(sample))
    assert all(r.ok for r in rows), "\n" + markdown_table([r for r in rows if not r.ok])
    # The figures the old log-normal generator missed by far, named so that a regression reads plainly.
    by_label = {r.label: r for r in rows}
    assert by_label["single-task jobs (share of jobs)"].generated < 0.01
    assert by_label["DAG depth, max"].generated >= 40
    assert by_label["plan_cpu 0 (share of tasks)"].generated > 0


def test_the_generator_tables_are_derived_from_the_sample(sample: list[TraceJob]) -> None:
    classes = [c for c, *_ in calibrated.SHAPES]
    tables = derive_tables(sample, calibrated.SIZE_BINS, classes, calibrated.DURATION_Q)
    for name in ("SIZE_BINS", "SHAPES", "DURATION", "PLAN_CPU"):
        assert tables[name] == getattr(calibrated, name), name
    assert abs(tables["FAN_OUT_P"] - calibrated.FAN_OUT_P) < 0.01
    for name in ("CPU_MISSING_TASK_P", "CPU_200_TASK_P"):
        assert math.isclose(tables[name], getattr(calibrated, name)), name
    for big, p in calibrated.CPU_MISSING_JOB_P.items():
        assert math.isclose(tables["CPU_MISSING_JOB_P"][big], p)


def _task(name: str, deps: list[str], duration: float = 1.0, cpu: float = 100.0) -> TraceTask:
    key = name.split("_")[0][1:]
    return TraceTask(name, key, deps, 1, "1", "Terminated", 10.0, 10.0 + duration, cpu, 0.2, 0)


def test_shape_of_a_small_dag_and_the_tolerance_rule() -> None:
    # M1, M2 -> J3 -> R4, R5: 2 roots, 2 sinks, depth 3.
    tasks = [_task("M1", []), _task("M2", []), _task("J3_1_2", ["1", "2"]), _task("R4_3", ["3"]), _task("R5_3", ["3"])]
    job = TraceJob("j_1", tasks)
    assert tuple(job_shape(job)) == (5, 2, 2, 3)
    s = shape_stats([job, TraceJob("j_2", [_task("M1", [], duration=5.0, cpu=0.0)])])
    assert s["single_task"] == 0.5 and s["roots_share"] == 3 / 6 and s["depth_max"] == 3
    assert s["plan_cpu_0"] == 1 / 6 and s["duration_mean"] == 10 / 6
    # Values: 25% relative. Shares: 25% relative or 1 percentage point, whichever is wider.
    assert FitRow("x", "value", 1.25, 1.0).ok and not FitRow("x", "value", 1.26, 1.0).ok
    assert FitRow("x", "share", 0.0006 + SHARE_ABS_TOL, 0.0006).ok
    assert not FitRow("x", "share", 0.0006 + SHARE_ABS_TOL + 1e-4, 0.0006).ok
    assert FitRow("x", "share", 0.40 * (1 + REL_TOL), 0.40).ok and not FitRow("x", "share", 0.51, 0.40).ok
