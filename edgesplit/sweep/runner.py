"""Running a sweep's runs as Ray tasks, on a local Ray or a cluster, skipping the runs already done.

Runs go out in batches, one Ray task per batch and at most `workers` tasks at once. A batch is a streaming
generator task: it yields the outcomes of the runs it has done at least every quarter second, so the driver
writes their files (and moves the progress bar) soon after they end, a kill loses only the runs since the last
yield, and the cost of a Ray task and of each handed-back object is shared by several runs (a smoke run takes
well under a second; a task round trip, ~10 ms).
"""

from __future__ import annotations

import math
import os
import re
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesplit.engines.ray.session import LOCAL_INIT
from edgesplit.errors import UserError
from edgesplit.scenario import Scenario
from edgesplit.sweep import store
from edgesplit.sweep.spec import Plan, PlannedRun

MAX_BATCH = 16
"""Runs per task at most: enough to share a task's cost, few enough that workers stay evenly loaded."""
TASKS_PER_WORKER = 4
"""Batches per worker aimed at, so that a worker that drew quick runs picks up more at the end."""

OnResult = Callable[[PlannedRun, dict[str, Any]], None]


@dataclass
class RunStats:
    """What a sweep did: runs run, skipped (done before), failed; Ray start and run times in seconds."""

    total: int
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    workers: int = 0
    batch: int = 0
    ray_start_s: float = 0.0
    run_s: float = 0.0


def _one_line(err: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # Ray's errors carry terminal colours
    first = text.splitlines()[0] if text else ""
    return f"{type(err).__name__}: {first}"[:500]


FLUSH_S = 0.25
"""A batch hands back what it has done at least this often: each handed-back object costs the driver and Ray's
daemons a few milliseconds of CPU, as much as a tenth of a small run, so quick runs go back several at a time."""


def execute_batch(items: list[tuple[str, Scenario, bool]]) -> Iterator[list[dict[str, Any]]]:
    """The body of a Ray task: runs each (run id, scenario, keep records) in turn and yields the outcomes of the
    runs done since its last yield, at least every FLUSH_S seconds and at the end; an exception inside a run is
    its outcome (status failed), never the end of the batch."""
    from edgesplit.run import run_scenario  # the engines load in the worker, once per worker process

    done: list[dict[str, Any]] = []
    last = time.perf_counter()
    for run_id, sc, keep_records in items:
        t0 = time.perf_counter()
        try:
            result = run_scenario(sc)
            outcome = {
                "id": run_id,
                "status": "ok",
                "summary": result.summary,
                "columns": result.columns if keep_records else None,
                "run_wall_s": time.perf_counter() - t0,
            }
        except Exception as err:  # noqa: BLE001 - any error in a run is recorded as that run's outcome
            outcome = {
                "id": run_id,
                "status": "failed",
                "error": _one_line(err),
                "traceback": traceback.format_exc(),
                "run_wall_s": time.perf_counter() - t0,
            }
        done.append(outcome)
        if time.perf_counter() - last >= FLUSH_S:
            yield done
            done, last = [], time.perf_counter()
    if done:
        yield done


def start_ray(workers: int | None = None, address: str | None = None) -> tuple[Any, int]:
    """The `ray` module, initialised, and how many tasks to keep in flight. Joins `address` (or $RAY_ADDRESS)
    when one is named, else starts a local Ray with `workers` CPUs (default: one per core); a session already
    running in this process is reused as it is."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray  # lazy: starting the CLI or planning a sweep must not pay for importing Ray

    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=workers or os.cpu_count() or 1, **LOCAL_INIT)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise UserError(f"cannot start or join Ray{f' at {address}' if address else ''}: {err}") from err
    return ray, workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


def batch_size(n_runs: int, workers: int) -> int:
    """Runs for the next task when `n_runs` are left to hand out (the first batch's size is `RunStats.batch`)."""
    return max(1, min(MAX_BATCH, math.ceil(n_runs / (workers * TASKS_PER_WORKER))))


def run_sweep(
    plan: Plan,
    out: Path,
    workers: int | None = None,
    address: str | None = None,
    batch: int | None = None,
    on_result: OnResult | None = None,
) -> RunStats:
    """Run the plan's runs not done yet as Ray tasks, writing each run's files under `out/runs/` as it ends.
    A failed run is recorded (its error in run.json) and never stops the others. `on_result(run, meta)` is
    called for every run, skipped ones first (their meta then has status "skipped")."""
    records = plan.spec.records
    stats = RunStats(total=len(plan.runs))
    todo = []
    for run in plan.runs:
        if store.is_done(out, run, records):
            stats.skipped += 1
            if on_result:
                on_result(run, {"status": "skipped"})
        else:
            todo.append(run)
    if not todo:
        return stats
    t0 = time.perf_counter()
    ray, stats.workers = start_ray(workers, address)
    stats.ray_start_s = time.perf_counter() - t0
    stats.batch = batch or batch_size(len(todo), stats.workers)
    # One CPU per task, so that Ray spreads the tasks over cores; no retries: a run that kills its worker is
    # recorded as failed (the next sweep runs it again) rather than run again and again.
    task = ray.remote(num_returns="streaming", num_cpus=1, max_retries=0)(execute_batch)
    by_id = {r.id: r for r in todo}
    queue = list(todo)
    inflight: dict[Any, list[PlannedRun]] = {}  # generator -> its runs not yet reported
    t0 = time.perf_counter()

    def finish(run: PlannedRun, outcome: dict[str, Any]) -> None:
        meta = store.write_outcome(out, run, outcome, records)
        stats.ran += 1
        stats.failed += meta["status"] != "ok"
        if on_result:
            on_result(run, meta)

    try:
        while queue or inflight:
            while queue and len(inflight) < stats.workers:
                # Guided self-scheduling: batches shrink as the queue does, so that the workers end together.
                size = batch or batch_size(len(queue), stats.workers)
                runs, queue = queue[:size], queue[size:]
                for run in runs:
                    store.begin(out, run)
                gen = task.remote([(r.id, r.scenario, records != "none") for r in runs])
                inflight[gen] = list(runs)
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for gen in ready:
                left = inflight[gen]
                try:
                    outcomes = ray.get(next(gen))
                except StopIteration:
                    outcomes = None
                except ray.exceptions.RayError as err:  # the task itself died (worker crash, node lost)
                    for run in left:
                        finish(run, {"status": "failed", "error": f"Ray task failed: {_one_line(err)}"})
                    left.clear()
                    outcomes = None
                if outcomes is not None:
                    for outcome in outcomes:
                        run = by_id[outcome["id"]]
                        left.remove(run)
                        finish(run, outcome)
                elif not left:
                    del inflight[gen]
                else:  # the stream ended early without an error: should not happen, but never lose a run
                    for run in list(left):
                        finish(run, {"status": "failed", "error": "its Ray task ended before running it"})
                    del inflight[gen]
    except BaseException:
        for gen in inflight:  # Ctrl-C: stop the tasks; runs written so far stay done
            try:
                ray.cancel(gen, force=True)
            except Exception:  # noqa: BLE001 - best effort while stopping
                pass
        raise
    finally:
        stats.run_s = time.perf_counter() - t0
    return stats
