"""Sweep benchmark: runs per minute with 1 and 2 Ray workers, and the per-run cost of going through Ray.

The sweep is the smoke scenario over policy.kind = local, edge, heft x bandwidth 5, 20 MHz x --seeds seeds.
In one process and one local Ray session (two CPUs): first each run's own time in-process (`run_scenario`,
the same scenarios, sequentially), then the sweep with 1 worker, then with 2, each into a fresh directory;
--repeat times, interleaved, medians reported. "run" is the sweep's run phase (first task sent to last run's
files written), so Ray's start and the final tables are apart. Overhead per run = (run phase with 1 worker /
runs - in-process time per run) / in-process time per run; "inside" is the same with the runs' own wall time
in their workers (run.json's run_wall_s) in place of the in-process time: what the task, transfer and the
driver's writing add to each run.

    python bench/sweep.py [--seeds 6] [--repeat 3] [--batch N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = ["policy.kind=local,edge,heft", "network.cells.0.bandwidth_hz=5 MHz,20 MHz"]


def cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine, from /proc/stat: how busy it was, whoever used it."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])


def idle_cores(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (os.cpu_count() or 1) * (after[0] - before[0]) / total if total else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=None, help="runs per Ray task (default: the sweep's choice)")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")

    from edgesplit.run import run_scenario
    from edgesplit.sweep.outputs import write_outputs
    from edgesplit.sweep.runner import run_sweep, start_ray
    from edgesplit.sweep.spec import build_spec, plan

    the_plan = plan(build_spec(ROOT / "scenarios" / "smoke.yaml", GRID, seeds=args.seeds))
    n = len(the_plan.runs)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    start_ray(workers=2)
    ray_start = time.perf_counter() - t0
    for run in the_plan.runs[:2]:  # warm-up: imports and first-run caches, in-process
        run_scenario(run.scenario)
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: both Ray workers import the engines once
        run_sweep(plan(build_spec(ROOT / "scenarios" / "smoke.yaml", ["policy.kind=local,edge"])), Path(tmp), 2)

    own, phase, inside, write_s, batches = [], {1: [], 2: []}, [], [], {}
    idle: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for run in the_plan.runs:
            run_scenario(run.scenario)
        own.append((time.perf_counter() - t0) / n)
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                cpu0 = cpu_times()
                stats = run_sweep(the_plan, Path(tmp), workers=workers, batch=args.batch)
                assert stats.ran == n and stats.failed == 0, stats
                phase[workers].append(stats.run_s)
                idle[workers].append(idle_cores(cpu0, cpu_times()))
                batches[workers] = stats.batch
                if workers == 1:
                    walls = [json.loads(p.read_text())["run_wall_s"] for p in Path(tmp).glob("runs/*/run.json")]
                    inside.append(sum(walls) / n)
                    t0 = time.perf_counter()
                    write_outputs(the_plan, Path(tmp), plots=True)
                    write_s.append(time.perf_counter() - t0)
    load1 = os.getloadavg()

    t_own = statistics.median(own)
    one, two = statistics.median(phase[1]), statistics.median(phase[2])
    per_run = one / n
    t_inside = statistics.median(inside)
    print(f"sweep: smoke.yaml, {' x '.join(GRID)} x {args.seeds} seeds = {n} runs")
    print(f"machine: {os.cpu_count()} cores; load average {load0[0]:.2f} before, {load1[0]:.2f} after")
    print(f"idle cores while sweeping (of {os.cpu_count()}): 1 worker {statistics.median(idle[1]):.2f}, "
          f"2 workers {statistics.median(idle[2]):.2f}")  # fmt: skip
    print(f"Ray start {ray_start:.1f} s (once per session); repeats {args.repeat}, medians")
    print()
    print("| workers | runs per task | run phase s | runs/min | speed-up |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| 1 | {batches[1]} | {one:.2f} | {60 * n / one:,.0f} | 1.00x |")
    print(f"| 2 | {batches[2]} | {two:.2f} | {60 * n / two:,.0f} | {one / two:.2f}x |")
    print()
    print(f"in-process run (own time): {1000 * t_own:.1f} ms per run")
    print(f"through Ray, 1 worker:     {1000 * per_run:.1f} ms per run -> overhead {100 * (per_run / t_own - 1):+.1f}%")
    print(f"run's time in its worker:  {1000 * t_inside:.1f} ms -> task, transfer, files: "
          f"{100 * (per_run / t_inside - 1):+.1f}%")  # fmt: skip
    print(f"tables and plots after the runs: {statistics.median(write_s):.2f} s (once per sweep)")
    print(f"all repeats: in-process ms {[round(1000 * x, 1) for x in own]}, run phase s 1 worker "
          f"{[round(x, 2) for x in phase[1]]}, 2 workers {[round(x, 2) for x in phase[2]]}")  # fmt: skip


if __name__ == "__main__":
    main()
