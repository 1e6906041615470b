"""Overhead of the Prometheus exporter: the same scenario run with and without it, in the same process.

"With" is what `edgesplit scenario run --metrics-port` does: a MetricsObserver on the engine, the HTTP
exporter up, and a scraper process fetching /metrics every --scrape-interval seconds meanwhile (as Prometheus
would: its own work is not counted, the exporter's answers are). "Without" is the engine with no observer at
all, the strictest baseline. Only `engine.run()` is timed (building the workload is the same for both).

Two measures, both printed:

* A/B: wall and CPU time of the runs, alternating with/without so that drifts in machine load hit both
  alike; the median of the per-pair ratios. On a quiet machine this is the direct answer. On a shared one
  (other processes on the same cores) single runs vary by tens of percent, so the spread is printed too.
* accounted: the time the run spends in the exporter's own code, measured inside the "with" runs: the
  observer's batch work (timed in its hooks; it has no per-task hook: the engine logs ended tasks) and the
  scrapes (their count x the time to render one exposition), over the run time without it.
  Timed in the same runs, it is much less sensitive to other load.

`--check` exits 1 when the chosen measure (`--judge`, default wall) exceeds `--max-overhead` (10 %).

    .venv/bin/python bench/metrics_overhead.py [--reps 15] [--scenario scenarios/smoke.yaml --set ...] [--check]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from edgesplit.engines.factory import prepare
from edgesplit.engines.sim import SimEngine
from edgesplit.gcpause import gc_paused
from edgesplit.metrics import FleetMetrics, MetricsObserver, start_exporter
from edgesplit.results import RunResult
from edgesplit.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
# The smoke fleet grown to 300 devices and 1,500 jobs (~45,000 tasks, ~50,000 events): a run of a second or two.
DEFAULT_SCENARIO = ROOT / "scenarios" / "smoke.yaml"
DEFAULT_SET = [
    "fleet.devices.0.count=200",
    "fleet.devices.1.count=100",
    "workload.synthetic.jobs=1500",
    "workload.arrival.rate_per_s=20",
]

# The scraper runs in its own process, as Prometheus does: only the exporter's side of a scrape is measured.
SCRAPER = """
import sys, time, urllib.request
url, interval = sys.argv[1], float(sys.argv[2])
print("ready", flush=True)
while True:
    with urllib.request.urlopen(url, timeout=10) as resp:
        size = len(resp.read())
    print(size, flush=True)
    time.sleep(interval)
"""


class Scraper:
    """A separate process that GETs the exporter's /metrics every `interval_s` until stopped."""

    def __init__(self, url: str, interval_s: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SCRAPER, url, str(interval_s)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        self.scrapes = 0
        self.bytes = 0

    def stop(self) -> None:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        sizes = [int(line) for line in out.split()]
        self.scrapes += len(sizes)
        self.bytes = sizes[-1] if sizes else self.bytes


class TimedObserver(MetricsObserver):
    """A MetricsObserver that adds up the time of its batch work (folds and snapshots)."""

    batch_s = 0.0

    def on_start(self, engine: SimEngine) -> None:
        t = time.perf_counter()
        super().on_start(engine)
        self.batch_s += time.perf_counter() - t

    def on_progress(self, engine: SimEngine) -> None:
        t = time.perf_counter()
        super().on_progress(engine)
        self.batch_s += time.perf_counter() - t

    def on_end(self, engine: SimEngine, result: RunResult) -> None:
        t = time.perf_counter()
        super().on_end(engine, result)
        self.batch_s += time.perf_counter() - t


def timed_run(path: Path, overrides: list[str], exporter: bool, top_devices: int, scrape_s: float) -> dict:
    engine = prepare(load_scenario(path, overrides))
    scraper = exp = observer = None
    if exporter:
        exp = start_exporter(0, metrics=FleetMetrics(top_devices=top_devices))
        observer = TimedObserver(exp.metrics)
        engine.observers.append(observer)
        scraper = Scraper(exp.url, scrape_s)
    try:
        with gc_paused():
            t0, c0 = time.perf_counter(), time.process_time()
            result = engine.run()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            run = {"wall_s": wall, "cpu_s": cpu, "tasks": result.n_tasks, "events": result.summary["events"]}
            if exp is not None and observer is not None:
                run["batch_s"] = observer.batch_s
                t = time.perf_counter()
                for _ in range(5):
                    exp.metrics.exposition()
                run["exposition_s"] = (time.perf_counter() - t) / 5
    finally:
        if scraper is not None:
            scraper.stop()
        if exp is not None:
            exp.close()
    if scraper is not None:
        run.update(scrapes=scraper.scrapes, scrape_bytes=scraper.bytes)
    return run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    ap.add_argument("--set", dest="overrides", action="append", help="scenario override (repeatable)")
    ap.add_argument("--reps", type=int, default=15, help="runs of each variant (default 15)")
    ap.add_argument("--top-devices", type=int, default=20)
    ap.add_argument("--scrape-interval", type=float, default=1.0, help="seconds between scrapes (default 1)")
    ap.add_argument("--max-overhead", type=float, default=0.10, help="the goal, as a fraction (default 0.10)")
    ap.add_argument("--judge", choices=("accounted", "wall", "cpu"), default="wall", help="what --check judges")
    ap.add_argument("--check", action="store_true", help="exit 1 when the judged overhead exceeds the goal")
    args = ap.parse_args(argv)
    overrides = args.overrides if args.overrides is not None else DEFAULT_SET

    timed_run(args.scenario, overrides, True, args.top_devices, args.scrape_interval)  # warm-up (imports, caches)
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for rep in range(args.reps):
        for with_exporter in (False, True) if rep % 2 == 0 else (True, False):
            runs[with_exporter].append(
                timed_run(args.scenario, overrides, with_exporter, args.top_devices, args.scrape_interval)
            )
    without, with_ = runs[False], runs[True]

    print(f"scenario {args.scenario.name} {' '.join(overrides)}")
    print(f"  {without[0]['tasks']:,} tasks, {without[0]['events']:,} events per run; {args.reps} runs of each")
    overhead: dict[str, float] = {}
    for clock in ("wall", "cpu"):
        key = f"{clock}_s"
        print(f"  A/B, {clock} time of engine.run():")
        for runs_, label in ((without, "without exporter"), (with_, "with exporter   ")):
            values = [r[key] for r in runs_]
            listed = " ".join(f"{v:.3f}" for v in values)
            print(f"    {label}: median {statistics.median(values):.3f} s   runs: {listed}")
        pairs = [w[key] / wo[key] for w, wo in zip(with_, without, strict=True)]
        overhead[clock] = statistics.median(pairs) - 1.0
        print(
            f"    with/without, median of {args.reps} pairs: {1.0 + overhead[clock]:.3f} "
            f"(overhead {overhead[clock]:+.1%}; pairs range {min(pairs):.3f} .. {max(pairs):.3f})"
        )

    base = statistics.median(r["wall_s"] for r in without)
    batch = statistics.median(r["batch_s"] for r in with_)
    expo = statistics.median(r["exposition_s"] for r in with_)
    scrapes = statistics.median(r["scrapes"] for r in with_)
    overhead["accounted"] = (batch + scrapes * expo) / base
    print(f"  accounted, inside the runs with the exporter (run without: {base:.3f} s):")
    rows = [
        ("batch work (folds, snapshots)", batch, ""),
        (f"scrapes: {scrapes:g} x {expo * 1e3:.1f} ms", scrapes * expo, f"  ({with_[-1]['scrape_bytes']:,} B each)"),
        ("total", batch + scrapes * expo, ""),
    ]
    for label, seconds, note in rows:
        print(f"    {label:34s} {seconds * 1e3:7.1f} ms {seconds / base:7.1%}{note}")
    ok = overhead[args.judge] <= args.max_overhead
    print(f"  goal: overhead <= {args.max_overhead:.0%} ({args.judge}): {'met' if ok else 'NOT met'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
