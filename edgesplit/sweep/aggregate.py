"""Aggregation of a sweep's runs: per grid point and metric, the mean, standard deviation and 95% Student-t
confidence interval over the seeds whose runs succeeded (aggregate.csv)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesplit.sweep.spec import Plan
from edgesplit.sweep.stats import MeanCI, mean_ci

Key = tuple[str, ...]  # a grid point's values, in axis order


@dataclass
class Aggregate:
    """Per grid point (in grid order): runs planned, runs failed, and each metric's MeanCI over the ok runs."""

    axes: list[str]
    points: list[Key] = field(default_factory=list)
    runs: dict[Key, int] = field(default_factory=dict)
    failed: dict[Key, int] = field(default_factory=dict)
    stats: dict[Key, dict[str, MeanCI]] = field(default_factory=dict)

    def get(self, point: Key, metric: str) -> MeanCI:
        return self.stats[point].get(metric) or MeanCI(0, math.nan, math.nan, math.nan)


def aggregate(plan: Plan, rows: list[dict[str, Any]], metrics: list[str]) -> Aggregate:
    """Group the runs table by grid point and summarise every metric (run_wall_s included)."""
    axes = [a.path for a in plan.spec.axes]
    agg = Aggregate(axes)
    groups: dict[Key, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(str(row[a]) for a in axes), []).append(row)
    for key, group in groups.items():
        ok = [r for r in group if r["status"] == "ok"]
        agg.points.append(key)
        agg.runs[key] = len(group)
        agg.failed[key] = len(group) - len(ok)
        agg.stats[key] = {m: mean_ci(r.get(m) for r in ok) for m in ["run_wall_s", *metrics]}
    return agg


def write_aggregate(agg: Aggregate, path: Path) -> Path:
    """aggregate.csv: one row per grid point and metric (long format, easy to filter and pivot)."""
    header = [*agg.axes, "metric", "runs", "failed", "n", "mean", "std", "ci95_low", "ci95_high", "ci95_half"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for key in agg.points:
            for metric, ci in agg.stats[key].items():
                figures = [ci.mean, ci.std, ci.low, ci.high, ci.half]
                w.writerow(
                    [*key, metric, agg.runs[key], agg.failed[key], ci.n, *("" if math.isnan(v) else v for v in figures)]
                )
    return path
