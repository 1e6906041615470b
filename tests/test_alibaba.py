"""Alibaba trace readers and the calibrated generator, checked against the real sample rows."""

from __future__ import annotations

import csv
import gzip
import io
import statistics
import tarfile
from pathlib import Path

import pytest

from edgesplit.workload.alibaba import parse_task_name, read_trace, read_v2018
from edgesplit.workload.calibrated import generate_jobs
from edgesplit.workload.trace_stats import jobs_stats
from edgesplit.workload.trace_types import RepairStats, TraceError, TraceJob
from edgesplit.workload.trace_write import write_v2018

# The samples live beside the repository (../shared/data/alibaba), never inside it.
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alibaba"
DAGS = DATA / "alibaba_v2018_batch_task_selected_DAGs.csv"
J3 = DATA / "alibaba_v2018_batch_task_j3_example.csv"
V2017 = DATA / "alibaba_v2017_batch_task.csv"

needs_data = pytest.mark.skipif(
    not DAGS.is_file(), reason=f"real Alibaba sample rows not found at {DATA} (shared/ beside the repo)"
)


def plain_rows(path: Path) -> list[list[str]]:
    """Data rows of a sample file with the csv module alone (header row dropped)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[1:]


def graph_problems(job: TraceJob) -> tuple[int, bool]:
    """(dangling dependencies, has a cycle) by a depth-first walk independent of the reader's code."""
    deps = {t.key: t.deps for t in job.tasks}
    dangling = sum(1 for d in deps.values() for p in d if p not in deps)
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def cyclic(k: str) -> bool:
        state[k] = 1
        for p in deps[k]:
            if p not in deps:
                continue
            if state.get(p) == 1 or (p not in state and cyclic(p)):
                return True
        state[k] = 2
        return False

    return dangling, any(k not in state and cyclic(k) for k in deps)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def dag_read() -> tuple[list[TraceJob], RepairStats]:
    if not DAGS.is_file():
        pytest.skip(f"real Alibaba sample rows not found at {DATA}")
    stats = RepairStats()
    return read_v2018(DAGS, stats=stats), stats


# --------------------------------------------------------------------------- names


def test_parse_task_name() -> None:
    assert parse_task_name("M5_3_4") == ("5", ["3", "4"], False)
    assert parse_task_name("R2_1") == ("2", ["1"], False)
    assert parse_task_name("M1") == ("1", [], False)
    assert parse_task_name("J10_08_9") == ("10", ["8", "9"], False)
    h = "task_Nzg3ODAwNjgzODc2NDU3NjM2Ng=="
    assert parse_task_name(h) == (h, [], False)
    assert parse_task_name("MergeTask") == ("MergeTask", [], False)
    cut = "R24_1_2_3_4_5_6_7_8_9_10_11_12_13_14_15_16_17_18_1"  # a real 50-character name
    assert len(cut) == 50
    key, deps, truncated = parse_task_name(cut)
    assert (key, truncated) == ("24", True)
    assert deps == [str(i) for i in range(1, 19)]  # the cut-off "1" (of 19, 20, ...) is gone


# --------------------------------------------------------------------------- real v2018 sample


@needs_data
def test_v2018_counts_equal_a_plain_count_of_the_file(dag_read) -> None:
    jobs, stats = dag_read
    rows = plain_rows(DAGS)
    assert len(jobs) == len({r[2] for r in rows}) == 1703
    assert sum(len(j.tasks) for j in jobs) == len(rows) == 45505
    assert stats.rows == len(rows) and stats.header_lines == 1 and stats.skipped_lines == 0
    assert (stats.jobs, stats.tasks) == (len(jobs), len(rows))
    assert {j.name for j in jobs} == {r[2] for r in rows}
    per_job = {j.name: sorted(t.name for t in j.tasks) for j in jobs}
    direct: dict[str, list[str]] = {}
    for r in rows:
        direct.setdefault(r[2], []).append(r[0])
    assert per_job == {k: sorted(v) for k, v in direct.items()}
    assert stats.truncated_names == sum(1 for r in rows if len(r[0]) == 50) == 283


@needs_data
def test_v2018_dags_have_no_dangling_deps_and_no_cycles(dag_read) -> None:
    jobs, stats = dag_read
    problems = [(j.name, *graph_problems(j)) for j in jobs]
    assert [p for p in problems if p[1] or p[2]] == []
    assert sum(len(t.deps) for j in jobs for t in j.tasks) > 40000  # the DAGs did not vanish
    # Every kept dependency comes from the task's own name (minus a truncated last token).
    for j in jobs:
        for t in j.tasks:
            tokens = t.name.split("_")[1:]
            if len(t.name) == 50:
                tokens = tokens[:-1]
            assert set(t.deps) <= {str(int(x)) for x in tokens if x}
    s = jobs_stats(jobs)
    assert s["dangling_deps_remaining"] == 0 and s["cycles_remaining"] == 0


@needs_data
def test_v2018_imputed_durations_match_the_rows_without_usable_times(dag_read) -> None:
    jobs, stats = dag_read
    rows = plain_rows(DAGS)
    bad = [r for r in rows if not (0 < float(r[5]) < float(r[6]))]
    assert stats.imputed_durations == len(bad) == 709
    tasks = [t for j in jobs for t in j.tasks]
    assert all(t.duration_s >= 1 for t in tasks)
    valid = [t.duration_s for t in tasks if t.has_valid_times]
    assert statistics.median(valid) == 11  # as the sample's README says


@needs_data
def test_j3_example_parses_into_the_dag_written_in_the_file() -> None:
    (job,) = read_v2018(J3)
    assert job.name == "j_3"
    assert {t.key: t.deps for t in job.tasks} == {
        "1": [],
        "2": ["1"],
        "3": [],
        "4": [],
        "5": [],
        "6": [],
        "7": [],
        "8": ["6", "7"],
        "9": [],
        "10": ["8", "9"],
        "11": ["5", "10"],
        "12": ["4", "11"],
        "13": ["2", "3", "12"],
        "14": ["13"],
    }
    m1 = job.tasks[0]
    assert (m1.name, m1.instance_num, m1.plan_cpu, m1.plan_mem, m1.line) == ("M1", 12846, 100.0, 0.3, 2)
    assert (m1.status, m1.task_type, m1.duration_s) == ("Terminated", "1", 82.0)
    assert job.arrival_s == 157213
    assert [t.name for t in job.tasks][-1] == "R14_13"


@needs_data
def test_header_or_no_header_and_gz_and_tar_gz_read_the_same(tmp_path: Path) -> None:
    lines = J3.read_text().splitlines()
    bare = write(tmp_path / "j3_bare.csv", lines[1:])
    with_header = read_v2018(J3)
    stats = RepairStats()
    without = read_v2018(bare, stats=stats)
    assert stats.header_lines == 0
    assert [(t.name, t.deps, t.start_s) for t in with_header[0].tasks] == [
        (t.name, t.deps, t.start_s) for t in without[0].tasks
    ]
    assert [t.line for t in without[0].tasks] == [t.line - 1 for t in with_header[0].tasks]

    gz = tmp_path / "j3.csv.gz"
    gz.write_bytes(gzip.compress(J3.read_bytes()))
    (job,) = read_v2018(gz)
    expected = [(t.name, t.deps, t.line) for t in with_header[0].tasks]
    assert [(t.name, t.deps, t.line) for t in job.tasks] == expected

    tgz = tmp_path / "batch_task.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        data = "\n".join(lines[1:]).encode()
        info = tarfile.TarInfo("batch_task.csv")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (job,) = read_v2018(tgz)
    assert [t.deps for t in job.tasks] == [t.deps for t in with_header[0].tasks]


@needs_data
def test_time_window_and_max_jobs_select_by_arrival(dag_read) -> None:
    jobs, _ = dag_read
    order = [(j.arrival_s, j.name) for j in jobs]
    assert order == sorted(order)
    stats = RepairStats()
    first = read_v2018(DAGS, max_jobs=10, stats=stats)
    assert [j.name for j in first] == [j.name for j in jobs[:10]]
    assert stats.filtered_jobs == 1703 - 10 and stats.jobs == 10
    lo, hi = 300_000.0, 400_000.0
    window = read_v2018(DAGS, start_s=lo, end_s=hi)
    expected = [j.name for j in jobs if lo <= j.arrival_s < hi]
    assert 0 < len(expected) < len(jobs)
    assert [j.name for j in window] == expected


# --------------------------------------------------------------------------- repairs on small fixtures


def test_truncated_name_repair_removes_the_cycle_its_cut_id_would_close(tmp_path: Path) -> None:
    cut = "J1000_2_3_4_5_6_7_8_9_10_11_12_13_14_15_16_17_18_1"  # "1" is what is left of "19"
    assert len(cut) == 50
    rows = ["R1_1000,1,j_9,1,Terminated,10,20,100,0.2"]  # task 1 waits for task 1000
    rows += [f"M{i},1,j_9,1,Terminated,5,8,100,0.2" for i in range(2, 19)]
    rows.append(f"{cut},1,j_9,1,Terminated,8,9,100,0.2")
    stats = RepairStats()
    (job,) = read_v2018(write(tmp_path / "cut.csv", rows), stats=stats)
    deps = {t.key: t.deps for t in job.tasks}
    assert deps["1000"] == [str(i) for i in range(2, 19)]  # the bogus "1" is gone...
    assert deps["1"] == ["1000"]  # ...so the real edge stays and no cycle had to be broken
    assert (stats.truncated_names, stats.dropped_cycle_deps, stats.dropped_dangling_deps) == (1, 0, 0)
    assert graph_problems(job) == (0, False)


def test_cycles_dangling_self_and_duplicate_dependencies(tmp_path: Path) -> None:
    rows = [
        "R1_2,1,j_1,1,Terminated,10,20,100,0.2",  # 1 <- 2 kept (first in file order)
        "R2_1,1,j_1,1,Terminated,10,20,100,0.2",  # 2 <- 1 closes the cycle: dropped
        "M3_3,1,j_1,1,Terminated,10,20,100,0.2",  # self dependency: dropped
        "R4_9_1,1,j_1,1,Terminated,10,20,100,0.2",  # 9 is not in the job: dropped
        "R4_2,7,j_1,1,Failed,11,30,100,0.2",  # duplicate key 4: the first row wins
    ]
    stats = RepairStats()
    (job,) = read_v2018(write(tmp_path / "rep.csv", rows), stats=stats)
    assert {t.key: t.deps for t in job.tasks} == {"1": ["2"], "2": [], "3": [], "4": ["1"]}
    assert job.tasks[-1].instance_num == 1 and job.tasks[-1].line == 4
    assert (stats.dropped_cycle_deps, stats.dropped_self_deps) == (1, 1)
    assert (stats.dropped_dangling_deps, stats.duplicate_tasks) == (1, 1)


def test_a_truncated_task_loses_the_cycle_edge_before_an_intact_one(tmp_path: Path) -> None:
    cut = ("J40_" + "_".join(str(i) for i in range(5, 40)))[:50]
    assert cut.endswith("_20_21_") and len(cut) == 50  # cut right after a separator
    rows = [f"{cut},1,j_2,1,Terminated,10,20,100,0.2"]
    rows += [f"M{i},1,j_2,1,Terminated,1,5,100,0.2" for i in range(6, 22)]
    rows.append("R5_40,1,j_2,1,Terminated,30,40,100,0.2")  # 5 <- 40 <- 5 is a cycle
    stats = RepairStats()
    (job,) = read_v2018(write(tmp_path / "c.csv", rows), stats=stats)
    deps = {t.key: t.deps for t in job.tasks}
    assert deps["5"] == ["40"]  # the intact name keeps its edge even though it comes later
    assert deps["40"] == [str(i) for i in range(6, 22)]  # 21 was whole: kept; 5 closed the cycle
    assert (stats.truncated_names, stats.dropped_cycle_deps) == (1, 1)


def test_durations_are_imputed_from_the_job_median(tmp_path: Path) -> None:
    rows = [
        "M1,1,j_1,1,Terminated,100,110,100,0.2",  # 10 s
        "M2,1,j_1,1,Terminated,100,130,100,0.2",  # 30 s
        "M3,1,j_1,1,Terminated,100,150,100,0.2",  # 50 s
        "R4_1,,j_1,1,Waiting,0,0,,",  # never started: job median 30 s
        "R5_2,1,j_1,1,Running,140,0,50,0.2",  # no end yet: job median
        "R6_3,1,j_1,1,Terminated,160,160,100,0.2",  # under the 1 s resolution: 1 s
        "M1,1,j_2,1,Running,200,0,100,0.2",  # nothing valid in the job: 1 s
    ]
    stats = RepairStats()
    jobs = {j.name: j for j in read_v2018(write(tmp_path / "d.csv", rows), stats=stats)}
    assert [t.duration_s for t in jobs["j_1"].tasks] == [10, 30, 50, 30, 30, 1]
    assert jobs["j_2"].tasks[0].duration_s == 1
    assert stats.imputed_durations == 4
    waiting = jobs["j_1"].tasks[3]
    assert (waiting.instance_num, waiting.plan_cpu, waiting.plan_mem) == (0, 0.0, 0.0)
    assert jobs["j_1"].arrival_s == 100  # the Waiting row's 0 start is not an arrival


def test_garbage_lines_raise_with_the_line_number_or_are_skipped(tmp_path: Path) -> None:
    rows = [
        "M1,1,j_1,1,Terminated,100,110,100,0.2",
        "M2,1,j_1,1,Terminated,100,110,100,0.2",
        "M3,1,j_1,1,Terminated,soon,110,100,0.2",  # line 3: non-numeric time
        "M4,1,j_1,1,Terminated,100",  # line 4: too few columns
        "M5,1,j_1,1,Terminated,100,110,100,0.2",
    ]
    path = write(tmp_path / "bad.csv", rows)
    with pytest.raises(TraceError) as err:
        read_v2018(path)
    assert err.value.where == f"{path}:3" and "start_time" in err.value.message
    stats = RepairStats()
    (job,) = read_v2018(path, skip_bad_lines=True, stats=stats)
    assert [t.key for t in job.tasks] == ["1", "2", "5"]
    assert (stats.skipped_lines, stats.skipped_line_numbers, stats.rows) == (2, [3, 4], 3)
    with pytest.raises(TraceError, match="no such trace file"):
        read_v2018(tmp_path / "missing.csv")
    with pytest.raises(TraceError, match="unknown trace format"):
        read_trace(path, "alibaba-v2099")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- v2017


@needs_data
def test_v2017_sample_parses_with_the_right_counts() -> None:
    rows = plain_rows(V2017)
    stats = RepairStats()
    jobs = read_trace(V2017, "alibaba-v2017", stats=stats)
    assert len(jobs) == len({r[2].strip() for r in rows}) == 12951
    assert sum(len(j.tasks) for j in jobs) == len(rows) == 80553
    assert stats.header_lines == 1 and all(not t.deps for j in jobs for t in j.tasks)
    first = next(j for j in jobs if j.name == "3")
    t4 = next(t for t in first.tasks if t.key == "4")
    assert (t4.start_s, t4.end_s, t4.instance_num, t4.plan_cpu) == (6459, 6524, 15740, 50)
    assert t4.status == "Terminated" and t4.line == 2
    assert jobs[0].arrival_s == min(float(r[0]) for r in rows) < 0  # created before the trace began


# --------------------------------------------------------------------------- calibrated generator


def test_generator_is_deterministic_and_well_formed() -> None:
    a, b = generate_jobs(60, seed=7), generate_jobs(60, seed=7)
    assert a == b
    assert a != generate_jobs(60, seed=8)
    assert [j.name for j in a] == [f"j_{i}" for i in range(1, 61)]
    assert all(graph_problems(j) == (0, False) for j in a)
    for j in a:
        for t in j.tasks:
            assert parse_task_name(t.name)[:2] == (t.key, t.deps)
            assert all(t.start_s >= next(p.end_s for p in j.tasks if p.key == d) for d in t.deps)
    arrivals = [j.arrival_s for j in a]
    assert arrivals == sorted(arrivals) and arrivals[0] >= 1


def test_generator_matches_the_published_v2018_figures() -> None:
    s = jobs_stats(generate_jobs(600, seed=1))
    assert 9 <= s["dag_size"]["median"] <= 13 and 1 <= s["dag_size"]["min"] and s["dag_size"]["max"] <= 203
    assert 60 <= s["dag_size"]["p90"] <= 110  # sample: 84
    assert 8 <= s["duration_s"]["median"] <= 16 and 200 <= s["duration_s"]["p90"] <= 400  # 11 s / 290 s
    assert set(s["plan_cpu_values"]) <= {"0", "50", "100", "200"}  # 0: a request the row leaves empty, as in the trace
    assert s["instance_num"]["median"] == 1
    assert s["status"] == {"Terminated": s["tasks"]}


def test_generated_jobs_round_trip_through_the_v2018_format(tmp_path: Path) -> None:
    jobs = generate_jobs(40, seed=3)
    path = tmp_path / "synthetic_batch_task.csv"
    write_v2018(jobs, path)
    stats = RepairStats()
    back = read_v2018(path, stats=stats)
    assert stats.header_lines == 0 and stats.truncated_names == 0 and stats.imputed_durations == 0
    key = lambda js: sorted((j.name, [(t.name, t.deps, t.start_s, t.end_s) for t in j.tasks]) for j in js)  # noqa: E731
    assert key(back) == key(jobs)
