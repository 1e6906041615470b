"""Engine benchmark: the star scenario in edgesplit's event engine, beside SimGrid and a bare heap loop, same run.

N devices, each with its own 10 MB/s, 10 ms link to one edge server (100 GFLOP/s); each device does 100 times:
compute 1e7 flops locally at 1 GFLOP/s, send 100 kB, the edge computes 1e8 flops, a 100-byte result returns.
edgesplit runs `scenarios/star_offload.yaml` with full energy accounting and per-task records; its time covers
loading the scenario, building the workload, running and building the records (SimGrid's covers platform and
actor set-up plus the run). SimGrid runs when Debian's `python3-simgrid` is installed (system python), by default
with the lean model of `bench/simgrid_star.py` (one FIFO server actor, the mailbox's permanent receiver, detached
replies; `--simgrid-model actors` is the earlier two-actors-per-device model, `both` runs the two). Every
measurement runs in a fresh process pinned to the same core (`--core`, with `taskset`: SimGrid's actors are OS
threads and run faster pinned), so peak memory is its own and no side gets a second core.

    python bench/engine.py [--devices 100 1000] [--repeat 3] [--no-simgrid] [--simgrid-model lean|actors|both]
"""

from __future__ import annotations

import argparse
import heapq
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"
ITERATIONS = 100


def child_edgesplit(devices: int) -> dict[str, float]:
    from edgesplit.run import run_scenario
    from edgesplit.scenario import load_scenario

    t0 = time.perf_counter()
    sc = load_scenario(ROOT / "scenarios" / "star_offload.yaml", [f"fleet.devices.0.count={devices}"])
    result = run_scenario(sc)
    wall = time.perf_counter() - t0
    s = result.summary
    assert s["tasks"]["completed"] == devices * ITERATIONS * 2, s["tasks"]
    return {
        "wall_s": wall,
        "events": s["events"],
        "sim_end_s": s["sim_time_s"],
        "records": result.n_tasks,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_bare(devices: int) -> dict[str, float]:
    """The same event count through a bare heap loop: no model, no records (an upper bound for Python)."""
    t0 = time.perf_counter()
    heap: list[tuple[float, int, int]] = []
    seq = 0
    left = [ITERATIONS * 4] * devices
    for d in range(devices):
        heapq.heappush(heap, (0.0, seq, d))
        seq += 1
    events = 0
    while heap:
        t, _, d = heapq.heappop(heap)
        events += 1
        left[d] -= 1
        if left[d]:
            heapq.heappush(heap, (t + 0.01, seq, d))
            seq += 1
    return {"wall_s": time.perf_counter() - t0, "events": events}


def run_child(kind: str, devices: int, core: int | None) -> dict[str, float]:
    if kind.startswith("simgrid"):
        model = kind.partition("-")[2]
        cmd = [SYSTEM_PYTHON, str(ROOT / "bench" / "simgrid_star.py"), "--devices", str(devices), "--json"]
        cmd += ["--model", model, "--fifo-edge"]  # edgesplit's edge core is FIFO: compare like with like
    else:
        cmd = [sys.executable, __file__, "--child", kind, "--devices", str(devices)]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    if kind.startswith("simgrid"):
        data = {
            "wall_s": data["total_wall_s"],
            "sim_end_s": data["sim_end_s"],
            "peak_rss_mib": data["peak_rss_mib"],
        }
    return data


def simgrid_available() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import simgrid"], capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="edgesplit runs per size (median reported)")
    parser.add_argument("--no-simgrid", action="store_true")
    parser.add_argument("--simgrid-model", choices=["lean", "actors", "both"], default="lean")
    parser.add_argument("--core", type=int, default=1, help="the core every run is pinned to (-1: no pinning)")
    parser.add_argument("--child", choices=["edgesplit", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fn = child_edgesplit if args.child == "edgesplit" else child_bare
        print(json.dumps(fn(args.devices[0])))
        return

    core = args.core if args.core >= 0 and shutil.which("taskset") else None
    print(f"every run pinned to core {core}" if core is not None else "runs not pinned (no taskset or --core -1)")
    use_simgrid = not args.no_simgrid and simgrid_available()
    sg_models = ["lean", "actors"] if args.simgrid_model == "both" else [args.simgrid_model]
    if not use_simgrid:
        print("SimGrid not measured (install Debian's python3-simgrid, or --no-simgrid was given)")
    header = f"{'N':>6} {'engine':>10} {'wall s':>8} {'offloads/s':>11} {'events/s':>10} {'peak MiB':>9}"
    header += f" {'sim end s':>10}"
    print(header)
    print("-" * len(header))
    ratios = []
    for n in args.devices:
        offloads = n * ITERATIONS
        runs = [run_child("edgesplit", n, core) for _ in range(args.repeat)]
        es = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
        es_rate = offloads / es["wall_s"]
        bare = run_child("bare", n, core)
        rows = [
            ("edgesplit", es, es["events"] / es["wall_s"]),
            ("bare heap", bare, bare["events"] / bare["wall_s"]),
        ]
        sg_rates = {}
        for model in sg_models if use_simgrid else []:
            sg = run_child(f"simgrid-{model}", n, core)
            sg_rates[model] = offloads / sg["wall_s"]
            rows.append((f"sg {model}", sg, float("nan")))
        for name, r, ev_rate in rows:
            print(
                f"{n:>6} {name:>10} {r['wall_s']:>8.3f} {offloads / r['wall_s']:>11,.0f} {ev_rate:>10,.0f}"
                f" {r.get('peak_rss_mib', float('nan')):>9.1f} {r.get('sim_end_s', float('nan')):>10.3f}"
            )
        spread = statistics.pstdev([r["wall_s"] for r in runs]) / es["wall_s"]
        line = f"N={n}: edgesplit {es_rate:,.0f} offloads/s (spread {spread:.0%} over {len(runs)} runs)"
        heap_ratio = (bare["events"] / bare["wall_s"]) / (es["events"] / es["wall_s"])
        line += f"; bare heap / edgesplit events/s = {heap_ratio:.1f}x"
        for model, rate in sg_rates.items():
            ratios.append((n, model, es_rate / rate))
            line += f"; edgesplit / SimGrid {model} = {es_rate / rate:.1f}x"
        print(line)
        verdict = "meets" if heap_ratio <= 4 else "misses"
        print(f"goal: events/s within 4x of the bare heap loop at N={n}: {heap_ratio:.1f}x ({verdict})")
    for n, model, ratio in ratios:
        verdict = "meets" if ratio >= 20 else "misses"
        print(f"goal >= 20x SimGrid ({model} model)'s offloads/s at N={n}: {ratio:.1f}x ({verdict})")


if __name__ == "__main__":
    main()
