"""Every heuristic policy on one scenario: offload ratio, latency and energy (devices, servers, base stations).

Runs the scenario once per policy in this process and prints a markdown table; the figures behind the
policy tables of README.md and docs/validation.md. Missing figures (a summary without base stations, from an
older checkout run with PYTHONPATH) print as "-".

    python bench/policies.py [SCENARIO] [--set k=v]... [--policies local,edge,...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("local", "edge", "random", "greedy-latency", "greedy-energy", "weighted", "heft")
COLUMNS = (
    ("offloaded", "offload_ratio", "{:.1%}"),
    ("latency mean (s)", "latency_s.mean", "{:.3f}"),
    ("latency p95 (s)", "latency_s.p95", "{:.3f}"),
    ("device J", "energy_j.device_total", "{:,.0f}"),
    ("device active J", "energy_j.device_active", "{:,.0f}"),
    ("device radio J", "energy_j.device_by_component.radio", "{:,.0f}"),
    ("server J", "energy_j.server_total", "{:,.0f}"),
    ("base-station J", "energy_j.base_station_total", "{:,.0f}"),
    ("system J", "energy_j.system_total", "{:,.0f}"),
)


def _get(summary: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        summary = summary.get(key) if isinstance(summary, dict) else None  # type: ignore[assignment]
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "alibaba_trace.yaml"))
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V")
    parser.add_argument("--policies", default=",".join(POLICIES))
    args = parser.parse_args()

    from edgesplit.run import run_scenario
    from edgesplit.scenario import load_scenario

    print("| policy | " + " | ".join(c[0] for c in COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for policy in args.policies.split(","):
        sets = [*args.sets, f"policy.kind={policy}", "outputs.plots=false"]
        summary = run_scenario(load_scenario(args.scenario, sets)).summary
        cells = []
        for _, path, fmt in COLUMNS:
            value = _get(summary, path)
            cells.append("-" if value is None else fmt.format(value))
        print(f"| {policy} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
