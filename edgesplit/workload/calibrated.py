"""Synthetic Alibaba-v2018-like batch jobs (DAGs) drawn from distributions calibrated on the real trace.

Sources of the figures below:
  [T]  alibaba/clusterdata, cluster-trace-v2018/trace_2018.md: task-name DAG syntax, 100 = one core,
       about 4,000 machines over 8 days; its IEEE DataPort entry ("Alibaba Cluster Trace
       (cluster-trace-v2018)"): 4M batch jobs over the 8 days.
  [S]  the real v2018 rows in shared/data/alibaba (1,703 DAG jobs, 45,505 tasks, from
       github.com/hliangzhao/embedding) as summarised by its README (job sizes 1..203, median 11;
       durations median 11 s, p90 290 s) and measured with `edgesplit trace stats` and
       `edgesplit.workload.alibaba` on that file (every other figure marked [S]).
  [TZW] Tian, Zheng, Wang, "Characterizing and Synthesizing Task Dependencies of Data-Parallel Jobs in
       Alibaba Cloud", SoCC 2019: DAGs are sparse and close to trees of bounded depth, which is why
       parents are chosen mostly among tasks that have no child yet.
The sample is stratified by job size, not a uniform draw of the trace, so per-job-size figures
(roots per job, in-degree) are used rather than whole-sample proportions where it matters.
"""

from __future__ import annotations

import math

import numpy as np

from edgesplit.workload.trace_types import TraceJob, TraceTask

_Z90 = 1.2815515655446004  # standard normal 90th percentile


def _sigma(median: float, p90: float) -> float:
    """Log-normal sigma that puts the 90th percentile at p90 given the median."""
    return math.log(p90 / median) / _Z90


# Tasks per job: log-normal with median 11 and p90 84, clipped to 1..203 [S].
SIZE_MEDIAN, SIZE_P90, SIZE_MAX = 11.0, 84.0, 203
# Shape: tasks sit on levels 1..L (L = the job's depth, the longest dependency chain). Level 1 holds
# the roots (`M` tasks): Poisson around 0.668 * n^0.642, a log-log fit over jobs of 3+ tasks [S]
# (median 1 root at 3-5 tasks, 5 at 11-20, 13 at 51-100).
ROOTS_A, ROOTS_B = 0.668, 0.642
# Depth: log-normal around 1 + 5.5 (1 - exp(-n / 6)), sigma 0.3, in 2..n. The sample's median depth
# is 2 at 2 tasks, 3 at 3-5, 5 at 6-10, 6-7 from 11 tasks up, whatever the size: DAGs are wide
# rather than deep, close to trees of bounded depth [S, TZW].
DEPTH_MAX_MEDIAN, DEPTH_SCALE, DEPTH_SIGMA = 5.5, 6.0, 0.3
# Levels 2..L narrow like a funnel (share of the non-root tasks on level l ~ 0.7^(l-2)), ending
# in one or few sinks: mean level sizes 5.6, 4.1, 2.4, 1.7, 1.3 in the sample's 5-deep jobs of 11-50
# tasks [S]. (Its jobs of 100+ tasks are less regular: few roots fanning out to many sinks.)
FUNNEL_RATIO = 0.7
# Parents of a non-root task: 1 (79.1%), 2 (10.5%), 3 (5.8%), 4 (0.9%), 5 (1.4%), else 6..18 [S].
# The first parent is on the level just above; all are taken among tasks that have no child yet
# when there are some (tree-like DAGs [TZW], one sink per job up to 50 tasks [S]).
INDEGREE_P = (0.791, 0.105, 0.058, 0.009, 0.014)
INDEGREE_TAIL = (6, 18)
# Task durations (s), log-normal per task letter: (median, p90) of valid durations [S].
# M (roots) 6 / 76, R (one parent) 12 / 313, J (joins) 36 / 453; all tasks together: 11 / 289.
DURATION = {"M": (6.0, 76.0), "R": (12.0, 313.0), "J": (36.0, 453.0)}
DURATION_MAX_S = 10_800.0  # a cap above the sample's longest task (6,338 s) [S]
# plan_cpu is the same for (almost) every task of a job [S]: per job, 1,701 of 1,703 jobs.
PLAN_CPU = ((100.0, 0.583), (50.0, 0.416), (200.0, 0.001))  # share of jobs [S]
# instance_num: 1 for 70.4% of tasks, otherwise log-normal (median 11, p90 377) clipped to 2..66,395 [S].
INSTANCE_ONE_P = 0.704
INSTANCE_TAIL = (11.0, 377.0, 66_395)
# plan_mem (normalised 0-100): the most frequent values and their task counts [S].
PLAN_MEM = ((0.2, 14384), (0.49, 12202), (0.3, 8068), (0.39, 6677), (0.59, 3165), (0.35, 282), (0.79, 104))

DEFAULT_INTERARRIVAL_S = 10.0
"""Mean gap between jobs. The trace's cluster sees about 4M jobs in 8 days (~6 jobs/s [T]), which
no edge site sees; 10 s is a testbed default, not a trace figure: set it from the scenario."""


def _indegree(rng: np.random.Generator) -> int:
    u = rng.random()
    for k, p in enumerate(INDEGREE_P, start=1):
        if u < p:
            return k
        u -= p
    return int(rng.integers(INDEGREE_TAIL[0], INDEGREE_TAIL[1] + 1))


def _lognormal(rng: np.random.Generator, median: float, p90: float, size: int | None = None) -> np.ndarray | float:
    return rng.lognormal(math.log(median), _sigma(median, p90), size)


def _level_sizes(rng: np.random.Generator, n: int) -> list[int]:
    """Tasks per level, roots first; sums to n, every level non-empty."""
    median = 1 + DEPTH_MAX_MEDIAN * (1 - math.exp(-n / DEPTH_SCALE))
    depth = int(np.clip(round(median * rng.lognormal(0.0, DEPTH_SIGMA)), 2, n))
    n_roots = int(np.clip(rng.poisson(ROOTS_A * n**ROOTS_B), 1, n - depth + 1))
    weights = FUNNEL_RATIO ** np.arange(depth - 1)
    spread = rng.multinomial(n - n_roots - (depth - 1), weights / weights.sum())
    return [n_roots, *(1 + int(x) for x in spread)]


def _pick(rng: np.random.Generator, pool: list[int]) -> int:
    return pool[int(rng.random() * len(pool))]


def _dag(rng: np.random.Generator, n: int) -> list[list[int]]:
    """Parents (1-based ids) of tasks 1..n, numbered level by level (a topological order)."""
    if n == 1:
        return [[]]
    parents: list[list[int]] = []
    has_child: set[int] = set()
    earlier: list[int] = []  # ids on the levels above the current one
    previous: list[int] = []  # ids on the level just above
    next_id = 1
    for size in _level_sizes(rng, n):
        level = list(range(next_id, next_id + size))
        next_id += size
        for _ in level:
            if not previous:  # a root
                parents.append([])
                continue
            k = min(_indegree(rng), len(earlier))
            open_above = [i for i in previous if i not in has_child]
            chosen = {_pick(rng, open_above or previous)}
            while len(chosen) < k:
                pool = [i for i in earlier if i not in chosen and i not in has_child]
                chosen.add(_pick(rng, pool or [i for i in earlier if i not in chosen]))
            has_child.update(chosen)
            parents.append(sorted(chosen))
        if previous:  # what the level above left childless feeds a join (`J`) of this level
            for i in previous:
                if i not in has_child:
                    joins = [t for t in level if len(parents[t - 1]) > 1]
                    parents[_pick(rng, joins or level) - 1].append(i)
                    has_child.add(i)
            for i in level:
                parents[i - 1].sort()
        earlier.extend(level)
        previous = level
    return parents


def _name(key: int, deps: list[int]) -> str:
    letter = "M" if not deps else ("R" if len(deps) == 1 else "J")
    return "_".join([f"{letter}{key}", *map(str, deps)])


def generate_jobs(n_jobs: int, seed: int, *, mean_interarrival_s: float = DEFAULT_INTERARRIVAL_S) -> list[TraceJob]:
    """Draw `n_jobs` trace-like DAG jobs (Poisson arrivals), deterministic for a seed.

    Names follow the trace (`j_<n>`, `M1`, `R2_1`, `J5_3_4`); every task is Terminated, task_type
    "1", `line` 0. A task starts when its last parent ends (roots at the job's arrival); times are
    whole seconds from 1. A name that would be exactly 50 characters loses its last parent, so that
    `read_v2018` (which treats 50-character names as truncated) reads written jobs back unchanged.
    """
    if n_jobs < 0:
        raise ValueError(f"n_jobs must be >= 0, got {n_jobs}")
    if mean_interarrival_s <= 0:
        raise ValueError(f"mean_interarrival_s must be > 0, got {mean_interarrival_s}")
    rng = np.random.default_rng(seed)
    cpu_values = np.array([v for v, _ in PLAN_CPU])
    cpu_p = np.array([p for _, p in PLAN_CPU]) / sum(p for _, p in PLAN_CPU)
    mem_values = np.array([v for v, _ in PLAN_MEM])
    mem_p = np.array([c for _, c in PLAN_MEM], dtype=float) / sum(c for _, c in PLAN_MEM)

    jobs: list[TraceJob] = []
    clock = 0.0
    for j in range(n_jobs):
        clock += rng.exponential(mean_interarrival_s)
        arrival = float(max(1, round(clock)))
        size = int(np.clip(round(float(_lognormal(rng, SIZE_MEDIAN, SIZE_P90))), 1, SIZE_MAX))
        plan_cpu = float(rng.choice(cpu_values, p=cpu_p))
        dag = _dag(rng, size)
        # Per-task draws, one vector each: durations per letter, instances, memory.
        draws = {
            k: np.clip(np.round(_lognormal(rng, *v, size=size)), 1, DURATION_MAX_S).tolist()
            for k, v in DURATION.items()
        }
        tail = np.clip(np.round(_lognormal(rng, *INSTANCE_TAIL[:2], size=size)), 2, INSTANCE_TAIL[2])
        instances = np.where(rng.random(size) < INSTANCE_ONE_P, 1, tail).astype(int).tolist()
        mems = rng.choice(mem_values, size=size, p=mem_p).tolist()

        ends: dict[int, float] = {}
        tasks: list[TraceTask] = []
        for i, deps in enumerate(dag):
            key = i + 1
            name = _name(key, deps)
            if len(name) == 50:
                deps = deps[:-1]
                name = _name(key, deps)
            duration = draws[name[0]][i]
            start = max((ends[p] for p in deps), default=arrival)
            ends[key] = start + duration
            tasks.append(
                TraceTask(
                    name=name,
                    key=str(key),
                    deps=[str(p) for p in deps],
                    instance_num=instances[i],
                    task_type="1",
                    status="Terminated",
                    start_s=start,
                    end_s=start + duration,
                    plan_cpu=plan_cpu,
                    plan_mem=mems[i],
                    line=0,
                )
            )
        jobs.append(TraceJob(f"j_{j + 1}", tasks))
    return jobs
