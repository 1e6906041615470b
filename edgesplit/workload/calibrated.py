"""Synthetic Alibaba-v2018-like batch jobs (DAGs) drawn from empirical tables fitted to the real trace rows.

Sources of the figures below:
  [T]  alibaba/clusterdata, cluster-trace-v2018/trace_2018.md: task-name DAG syntax, 100 = one core,
       about 4,000 machines over 8 days; its IEEE DataPort entry ("Alibaba Cluster Trace
       (cluster-trace-v2018)"): 4M batch jobs over the 8 days.
  [S]  the real v2018 rows in shared/data/alibaba (1,703 DAG jobs, 45,505 tasks, from
       github.com/hliangzhao/embedding; README there: job sizes 1..203, median 11, durations median
       11 s, p90 290 s), measured with `edgesplit.workload.shape_stats` after `read_v2018`'s repairs.
       `python bench/generator_fit.py --derive` prints every [S] table below from that file.
  [TZW] Tian, Zheng, Wang, "Characterizing and Synthesizing Task Dependencies of Data-Parallel Jobs in
       Alibaba Cloud", SoCC 2019: DAGs are sparse and close to trees of bounded depth, hence parents
       mostly on the level just above and few extra edges.
The sample took whole jobs stratified by job size (2; 3-10; 11-50; 51-100; >100 tasks), so it is not a
uniform draw of the trace and its job-size mix is not the trace's: the tables reproduce the sample, the real
data we have, and being per size class the shape tables keep each job's shape right for any size mix.
`bench/generator_fit.py` prints the generator-vs-sample table of docs/trace.md.
"""

from __future__ import annotations

import math

import numpy as np

from edgesplit.workload.trace_types import TraceJob, TraceTask

# Tasks per job: (lo, hi, jobs of the sample with lo..hi tasks) [S]; uniform inside a bin. Bins are exact
# where jobs are dense (the median is 11) and follow the sample's spikes (62, 87-91: recurring jobs).
SIZE_BINS = (
    (1, 1, 1), (2, 2, 162), (3, 3, 231), (4, 4, 137), (5, 5, 82), (6, 6, 74), (7, 7, 47), (8, 10, 67),
    (11, 11, 71), (12, 12, 63), (13, 15, 119), (16, 20, 116), (21, 25, 66), (26, 35, 33), (36, 50, 12),
    (51, 61, 114), (62, 62, 48), (63, 86, 93), (87, 91, 59), (92, 100, 7), (101, 117, 36), (118, 134, 60),
    (135, 203, 5),
)  # fmt: skip
# Shape per size class [S]: (sizes, depth histogram, roots deciles, sinks deciles). Depth L is the number
# of tasks on the longest chain; a job of n tasks and depth L >= 2 has r roots and k sinks with
# r - 1 = u_r (n - L) and k - 1 = u_k (n - L - r + 1), the room each has once a chain of L tasks is
# there (no root is a sink; at depth 2 every non-root is a sink). The deciles are those of u_r and u_k
# over the class's jobs, interpolated between deciles. Small jobs are a join of their roots followed by a
# chain (u_r = 1); big ones have few roots fanning out to many sinks; two of them are 54 deep [S].
SHAPES = (
    ((1, 1), ((1, 1),), (), ()),
    ((2, 2), ((1, 4), (2, 158)), (), ()),
    ((3, 3), ((1, 3), (2, 47), (3, 181)), (0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), ()),
    (
        (4, 4),
        ((1, 1), (2, 17), (3, 58), (4, 61)),
        (0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        (0, 0, 0, 0, 0, 0, 0.4, 0.8, 1, 1, 1),
    ),
    (
        (5, 5),
        ((1, 1), (2, 3), (3, 17), (4, 43), (5, 18)),
        (0, 0.5, 0.5, 1, 1, 1, 1, 1, 1, 1, 1),
        (0, 0, 0, 0, 0, 0, 0.1, 0.7, 1, 1, 1),
    ),
    (
        (6, 10),
        ((1, 3), (2, 10), (3, 16), (4, 58), (5, 51), (6, 37), (7, 11), (8, 1), (9, 1)),
        (0, 0, 0.333, 0.5, 0.5, 0.667, 1, 1, 1, 1, 1),
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0.333, 1),
    ),
    (
        (11, 20),
        ((1, 2), (2, 4), (3, 14), (4, 35), (5, 86), (6, 68), (7, 69), (8, 40), (9, 28), (10, 22), (12, 1)),
        (0, 0.2, 0.286, 0.4, 0.5, 0.5, 0.6, 0.667, 0.75, 0.866, 1),
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
    ),
    (
        (21, 50),
        ((2, 9), (3, 1), (4, 9), (5, 12), (6, 15), (7, 16), (8, 16), (9, 12), (10, 4), (11, 7), (12, 4),
         (13, 2), (14, 1), (16, 1), (21, 2)),
        (0, 0, 0.134, 0.194, 0.278, 0.333, 0.405, 0.5, 0.542, 0.589, 1),
        (0, 0, 0, 0, 0, 0, 0, 0, 0.111, 0.308, 1),
    ),
    (
        (51, 100),
        ((2, 53), (3, 4), (4, 6), (5, 89), (6, 11), (7, 74), (8, 19), (9, 18), (10, 11), (11, 12), (12, 6),
         (13, 2), (15, 1), (16, 1), (18, 3), (19, 6), (20, 3), (21, 2)),
        (0, 0.0349, 0.0417, 0.1, 0.218, 0.22, 0.333, 0.411, 0.415, 0.537, 1),
        (0, 0, 0, 0, 0, 0.0638, 0.12, 0.12, 0.221, 0.23, 0.959),
    ),
    (
        (101, 203),
        ((2, 7), (3, 12), (4, 11), (5, 10), (6, 25), (7, 1), (10, 14), (11, 13), (22, 6), (54, 2)),
        (0, 0, 0, 0, 0.033, 0.0351, 0.0619, 0.196, 0.28, 0.397, 1),
        (0.0122, 0.0549, 0.0795, 0.143, 0.188, 0.319, 0.351, 0.388, 0.811, 0.866, 0.887),
    ),
)  # fmt: skip
# Extra sinks sit all on the last level (a fan-out) in 40% of the sample's jobs of depth 3+ with several
# sinks, and almost all on the middle levels (side branches) otherwise [S].
FAN_OUT_P = 0.4
# Middle levels narrow like a funnel (share of the free tasks on level l ~ 0.7^(l-2)): mean level sizes
# 5.6, 4.1, 2.4, 1.7, 1.3 in the sample's 5-deep jobs of 11-50 tasks [S].
FUNNEL_RATIO = 0.7
# In-degree of non-root tasks in the sample: 1 (79.1%), 2 (10.5%), 3 (5.8%), 4 (0.9%), 5 (1.4%), 6..18 (2.3%)
# [S]. The first parent is on the level just above (that sets the depth) and every non-sink gets a child,
# which alone gives 82.5% / 10.3% / 3.7% / 1.5% / 0.7% / 1.3%; on top of that a task wants 3 parents
# (2.2%), 5 (0.8%) or 6..18 (1%), fitted to the sample's figures (generated: 79.5 / 10.0 / 5.6 / 1.5 / 1.3
# / 2.1%). Extra parents are tasks of earlier levels that have a child anyway, so roots, sinks and depth
# stay as drawn.
INDEGREE_P = (0.96, 0.0, 0.022, 0.0, 0.008)  # wanted parents 1..5; the rest wants INDEGREE_TAIL
INDEGREE_TAIL = (6, 18)
# Task durations (s) per role, roots (M), one parent (R), joins (J): the values at the quantiles
# DURATION_Q [S], interpolated in log space. The tail matters: p99 is 100x the median.
DURATION_Q = (0.0, 0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99, 0.999, 1.0)
DURATION = {
    "M": (1.0, 1.0, 1.0, 1.0, 3.0, 6.0, 18.0, 69.0, 175.0, 520.0, 2250.3, 4976.0),
    "R": (1.0, 1.0, 2.0, 3.0, 5.0, 12.0, 63.0, 311.0, 445.0, 1675.7, 3756.2, 5700.0),
    "J": (1.0, 1.0, 2.0, 3.0, 7.0, 27.0, 136.0, 415.0, 734.0, 2172.2, 4441.8, 6338.0),
}
# plan_cpu: one value per job, 100 (994 of 1,703 jobs) or 50 (709) [S]. A few rows leave it empty (read as
# 0): those of tasks not yet scheduled, in 8 of the 422 jobs of >50 tasks and 2 of the 1,281 smaller ones,
# 322 of the 710 tasks of those jobs [S]. Generated tasks keep a duration (Terminated) all the same.
# 8 tasks of 45,505 ask for 200 [S].
PLAN_CPU = ((100.0, 994), (50.0, 709))
CPU_MISSING_JOB_P = {False: 2 / 1281, True: 8 / 422}  # keyed by "more than 50 tasks"
CPU_MISSING_TASK_P = 322 / 710
CPU_200_TASK_P = 8 / 45_505
# instance_num: 1 for 70.4% of tasks, otherwise log-normal (median 11, p90 377) clipped to 2..66,395 [S].
INSTANCE_ONE_P = 0.704
INSTANCE_TAIL = (11.0, 377.0, 66_395)
# plan_mem (normalised 0-100): the most frequent values and their task counts [S].
PLAN_MEM = ((0.2, 14384), (0.49, 12202), (0.3, 8068), (0.39, 6677), (0.59, 3165), (0.35, 282), (0.79, 104))

DEFAULT_INTERARRIVAL_S = 10.0
"""Mean gap between jobs. The trace's cluster sees about 4M jobs in 8 days (~6 jobs/s [T]), which
no edge site sees; 10 s is a testbed default, not a trace figure: set it from the scenario."""

_Z90 = 1.2815515655446004  # standard normal 90th percentile
_SIZE_P = np.array([c for *_, c in SIZE_BINS], dtype=float) / sum(c for *_, c in SIZE_BINS)
# Per size class: the depths and their probabilities.
_DEPTH = [(np.array([d for d, _ in h]), np.array([c for _, c in h]) / sum(c for _, c in h)) for _, h, *_ in SHAPES]
_LOG_DURATION = {k: np.log(v) for k, v in DURATION.items()}


def _size(rng: np.random.Generator) -> int:
    lo, hi, _ = SIZE_BINS[int(rng.choice(len(SIZE_BINS), p=_SIZE_P))]
    return int(rng.integers(lo, hi + 1))


def _decile(rng: np.random.Generator, knots: tuple[float, ...]) -> float:
    """A draw from the distribution with these deciles (linear between them); 0 for an empty table."""
    if not knots:
        return 0.0
    return float(np.interp(rng.random() * (len(knots) - 1), np.arange(len(knots)), knots))


def _stochastic_round(rng: np.random.Generator, x: float) -> int:
    """floor or ceil with the odds that keep the mean (plain rounding would bias small counts)."""
    return int(math.floor(x + rng.random()))


def _shape(rng: np.random.Generator, n: int) -> tuple[int, int, int]:
    """(depth, roots, sinks) of a job of n tasks, from its size class's tables."""
    c = next(i for i, ((lo, hi), *_) in enumerate(SHAPES) if lo <= n <= hi)
    depths, p = _DEPTH[c]
    depth = min(n, int(rng.choice(depths, p=p)))
    if depth == 1:  # independent tasks: each one is a root and a sink
        return 1, n, n
    roots = 1 + _stochastic_round(rng, _decile(rng, SHAPES[c][2]) * (n - depth))
    if depth == 2:  # every task of level 2 is a sink
        return 2, roots, n - roots
    return depth, roots, 1 + _stochastic_round(rng, _decile(rng, SHAPES[c][3]) * (n - depth - roots + 1))


def _levels(rng: np.random.Generator, n: int) -> tuple[list[list[int]], list[bool]]:
    """Task ids (0-based) level by level, roots first, and which tasks are sinks (have no child)."""
    depth, roots, sinks = _shape(rng, n)
    if depth == 1:
        return [list(range(n))], [True] * n
    middle = depth - 2
    extra_sinks = sinks - 1
    fan_out = middle == 0 or rng.random() < FAN_OUT_P
    free = n - roots - (depth - 1) - extra_sinks  # non-sink tasks beyond one per middle level
    busy = [1] * middle  # non-sinks per middle level
    idle = [0] * middle  # sinks per middle level
    if middle:
        weights = FUNNEL_RATIO ** np.arange(middle)
        busy = [1 + int(x) for x in rng.multinomial(free, weights / weights.sum())]
        if not fan_out:
            idle = [int(x) for x in rng.multinomial(extra_sinks, np.full(middle, 1 / middle))]
    last = 1 + (extra_sinks if fan_out else 0)
    levels, is_sink, next_id = [list(range(roots))], [False] * roots, roots
    for b, s in [*zip(busy, idle, strict=True), (0, last)]:
        levels.append(list(range(next_id, next_id + b + s)))
        is_sink += [False] * b + [True] * s
        next_id += b + s
    return levels, is_sink


def _indegree(rng: np.random.Generator) -> int:
    u = rng.random()
    for k, p in enumerate(INDEGREE_P, start=1):
        if u < p:
            return k
        u -= p
    return int(rng.integers(INDEGREE_TAIL[0], INDEGREE_TAIL[1] + 1))


def _dag(rng: np.random.Generator, n: int) -> list[list[int]]:
    """Parents (1-based ids) of tasks 1..n, numbered level by level (a topological order)."""
    levels, is_sink = _levels(rng, n)
    parents: list[list[int]] = [[] for _ in range(n)]
    earlier: list[int] = []  # non-sinks of the levels above the current one: who may take a child
    for above, level in zip(levels, levels[1:], strict=False):
        pool = [above[i] for i in rng.permutation(len(above)) if not is_sink[above[i]]]
        earlier += pool
        # Every task gets a parent on the level just above and every non-sink there gets a child.
        if len(pool) <= len(level):
            for i, t in enumerate(level):
                parents[t].append(pool[i] if i < len(pool) else pool[int(rng.integers(len(pool)))])
        else:
            for i, p in enumerate(pool):
                parents[level[i] if i < len(level) else level[int(rng.integers(len(level)))]].append(p)
        for t in level:
            want = _indegree(rng) - len(parents[t])
            if want > 0:
                free = [p for p in earlier if p not in parents[t]]
                picks = rng.choice(len(free), size=min(want, len(free)), replace=False)
                parents[t] += [free[i] for i in picks]
            _avoid_truncated_length(rng, t, parents[t], earlier)
    return [sorted(p + 1 for p in ps) for ps in parents]


def _name(key: int, deps: list[int]) -> str:
    letter = "M" if not deps else ("R" if len(deps) == 1 else "J")
    return "_".join([f"{letter}{key}", *map(str, deps)])


def _avoid_truncated_length(rng: np.random.Generator, t: int, parents: list[int], earlier: list[int]) -> None:
    """Add a parent to a task whose name would be exactly 50 characters, which `read_v2018` reads as a
    name the trace truncated; an extra parent of an earlier non-sink changes neither roots, sinks nor depth.
    With no such parent left, drop the last one (the reader's own rule)."""
    if len(_name(t + 1, sorted(p + 1 for p in parents))) != 50:
        return
    free = [p for p in earlier if p not in parents]
    if free:
        parents.append(free[int(rng.integers(len(free)))])
    else:
        parents.remove(max(parents))


def _durations(rng: np.random.Generator, dag: list[list[int]]) -> list[float]:
    """Whole seconds >= 1 per task, from its role's quantile table."""
    u = rng.random(len(dag))
    roles = ["M" if not deps else ("R" if len(deps) == 1 else "J") for deps in dag]
    log_d = [np.interp(x, DURATION_Q, _LOG_DURATION[r]) for x, r in zip(u, roles, strict=True)]
    return [max(1.0, float(round(math.exp(x)))) for x in log_d]


def _lognormal(rng: np.random.Generator, median: float, p90: float, size: int) -> np.ndarray:
    return rng.lognormal(math.log(median), math.log(p90 / median) / _Z90, size)


def _plan_cpu(rng: np.random.Generator, size: int, job_value: float) -> list[float]:
    missing_p = CPU_MISSING_TASK_P if rng.random() < CPU_MISSING_JOB_P[size > 50] else 0.0
    u = rng.random(size)
    cpu = np.where(u < missing_p, 0.0, job_value)
    return np.where(rng.random(size) < CPU_200_TASK_P, 200.0, cpu).tolist()


def generate_jobs(n_jobs: int, seed: int, *, mean_interarrival_s: float = DEFAULT_INTERARRIVAL_S) -> list[TraceJob]:
    """Draw `n_jobs` trace-like DAG jobs (Poisson arrivals), deterministic for a seed.

    Names follow the trace (`j_<n>`, `M1`, `R2_1`, `J5_3_4`); every task is Terminated, task_type
    "1", `line` 0. A task starts when its last parent ends (roots at the job's arrival); times are
    whole seconds from 1. No name is exactly 50 characters, so that `read_v2018` (which treats
    50-character names as truncated) reads written jobs back unchanged.
    """
    if n_jobs < 0:
        raise ValueError(f"n_jobs must be >= 0, got {n_jobs}")
    if mean_interarrival_s <= 0:
        raise ValueError(f"mean_interarrival_s must be > 0, got {mean_interarrival_s}")
    rng = np.random.default_rng(seed)
    cpu_values = [v for v, _ in PLAN_CPU]
    cpu_p = np.array([c for _, c in PLAN_CPU], dtype=float) / sum(c for _, c in PLAN_CPU)
    mem_values = np.array([v for v, _ in PLAN_MEM])
    mem_p = np.array([c for _, c in PLAN_MEM], dtype=float) / sum(c for _, c in PLAN_MEM)

    jobs: list[TraceJob] = []
    clock = 0.0
    for j in range(n_jobs):
        clock += rng.exponential(mean_interarrival_s)
        arrival = float(max(1, round(clock)))
        size = _size(rng)
        dag = _dag(rng, size)
        durations = _durations(rng, dag)
        cpus = _plan_cpu(rng, size, cpu_values[int(rng.choice(len(cpu_values), p=cpu_p))])
        tail = np.clip(np.round(_lognormal(rng, *INSTANCE_TAIL[:2], size=size)), 2, INSTANCE_TAIL[2])
        instances = np.where(rng.random(size) < INSTANCE_ONE_P, 1, tail).astype(int).tolist()
        mems = rng.choice(mem_values, size=size, p=mem_p).tolist()

        ends: list[float] = []
        tasks: list[TraceTask] = []
        for i, deps in enumerate(dag):
            start = max((ends[p - 1] for p in deps), default=arrival)
            ends.append(start + durations[i])
            tasks.append(
                TraceTask(
                    name=_name(i + 1, deps),
                    key=str(i + 1),
                    deps=[str(p) for p in deps],
                    instance_num=instances[i],
                    task_type="1",
                    status="Terminated",
                    start_s=start,
                    end_s=ends[i],
                    plan_cpu=cpus[i],
                    plan_mem=mems[i],
                    line=0,
                )
            )
        jobs.append(TraceJob(f"j_{j + 1}", tasks))
    return jobs
