"""Ray engine benchmark: offloads/s and peak memory beside the `sim` engine's, measured in the same run.

Star scenario (`scenarios/star_offload.yaml`: every device offloads over its own link to one edge server) at 100
and 1,000 devices, and `scenarios/alibaba_trace.yaml` (greedy-latency reads server queues, so shards replay
each other's arrivals), each with the sim engine and with the Ray engine on 1 and 2 device shards. Every
measurement runs in a fresh process. Starting Ray is timed apart ("Ray start": a long-lived driver or a cluster
pays it once); "run" covers the rest: actors, the run and the merged records. Offloads/s is over "run".
Peak memory is the driver's peak RSS plus the peak summed RSS of the Ray processes it started (raylet, GCS,
actors), sampled five times a second from /proc.

    python bench/ray_engine.py [--devices 100 1000] [--iterations 100] [--alibaba-jobs 200] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _descendants(root: int) -> list[int]:
    """Pids below `root`, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out, stack = [], [root]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RaySampler:
    """Peak summed RSS (MiB) of this process's descendants (Ray's raylet, GCS and workers), sampled at 5 Hz."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        me = os.getpid()
        while not self._done.wait(0.2):
            self.peak = max(self.peak, sum(_rss_kib(p) for p in _descendants(me)) / 1024)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak


def child(case: str, devices: int, engine: str, shards: int, iterations: int, jobs: int) -> dict[str, float]:
    """One run in this (fresh) process."""
    from edgesplit.run import run_scenario
    from edgesplit.scenario import load_scenario

    if case == "star":
        sets = [f"fleet.devices.0.count={devices}", f"workload.synthetic.iterations={iterations}"]
        path = ROOT / "scenarios" / "star_offload.yaml"
    else:
        sets = [f"workload.trace.max_jobs={jobs}", "outputs.plots=false"]
        path = ROOT / "scenarios" / "alibaba_trace.yaml"
    sets.append(f"engine.kind={engine}")
    sampler = None
    t0 = time.perf_counter()
    if engine == "ray":
        from edgesplit.engines.ray.session import ensure_ray

        sets.append(f"engine.shards={shards}")
        sampler = RaySampler()
        ensure_ray()
    ray_start_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = run_scenario(load_scenario(path, sets))
    wall = time.perf_counter() - t0
    s = result.summary
    offloads = sum(n for target, n in s["placements"].items() if target != "local")
    return {
        "ray_start_s": ray_start_s,
        "wall_s": wall,
        "offloads": offloads,
        "offloads_per_s": offloads / wall,
        "driver_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ray_rss_mib": sampler.stop() if sampler else 0.0,
    }


def measure(case: str, devices: int, engine: str, shards: int, args: argparse.Namespace) -> dict[str, float]:
    runs = []
    for _ in range(args.repeat):
        cmd = [sys.executable, __file__, "--child", case, str(devices), engine, str(shards)]
        cmd += ["--iterations", str(args.iterations), "--alibaba-jobs", str(args.alibaba_jobs)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    median = statistics.median(r["offloads_per_s"] for r in runs)
    return {**min(runs, key=lambda r: abs(r["offloads_per_s"] - median)), "offloads_per_s": median}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--iterations", type=int, default=100, help="offloads per device in the star scenario")
    ap.add_argument("--alibaba-jobs", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the median is shown")
    ap.add_argument("--child", nargs=4, metavar=("CASE", "DEVICES", "ENGINE", "SHARDS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        case, devices, engine, shards = args.child
        print(json.dumps(child(case, int(devices), engine, int(shards), args.iterations, args.alibaba_jobs)))
        return

    print("| scenario | devices | engine | offloads | Ray start s | run s | offloads/s | vs sim | peak RSS MiB |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for case, devices in [("star", n) for n in args.devices] + [("alibaba_trace", 40)]:
        sim = measure(case, devices, "sim", 0, args)
        rows = [("sim", sim)] + [(f"ray, {k} shard(s)", measure(case, devices, "ray", k, args)) for k in (1, 2)]
        for name, r in rows:
            ratio = r["offloads_per_s"] / sim["offloads_per_s"]
            memory = f"{r['driver_rss_mib']:.0f}" + (f" + {r['ray_rss_mib']:.0f}" if r["ray_rss_mib"] else "")
            print(
                f"| {case} | {devices} | {name} | {r['offloads']:,} | {r['ray_start_s']:.1f} | {r['wall_s']:.2f} |"
                f" {r['offloads_per_s']:,.0f} | {ratio:.2f}x | {memory} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
