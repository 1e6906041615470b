"""A sweep's outputs from its run directories: runs.csv/.parquet, aggregate.csv, summary.md and the plots."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edgesplit.sweep import table
from edgesplit.sweep.aggregate import Aggregate, aggregate, write_aggregate
from edgesplit.sweep.plots import markdown, plot_all
from edgesplit.sweep.spec import Plan


@dataclass
class Outputs:
    """What was written, the aggregate, and the requested metrics no ok run has (misspelt, or not numeric)."""

    paths: list[Path]
    agg: Aggregate
    metrics: list[str]
    unknown: list[str] = field(default_factory=list)
    markdown: str = ""


def write_outputs(plan: Plan, out: Path, plots: bool = True) -> Outputs:
    """Read every planned run back from `out/runs/` and write the tables and plots into `out`."""
    rows, names = table.build_rows(plan, out)
    axes = [a.path for a in plan.spec.axes]
    columns = table.columns(plan, names)
    paths = [table.write_csv(rows, columns, out / "runs.csv")]
    parquet = table.write_parquet(rows, columns, ["run_id", *axes, "status", "error"], out / "runs.parquet")
    if parquet is not None:
        paths.append(parquet)
    agg = aggregate(plan, rows, names)
    paths.append(write_aggregate(agg, out / "aggregate.csv"))
    any_ok = any(r["status"] == "ok" for r in rows)
    metrics = [m for m in plan.spec.metrics if m in names or m == "run_wall_s"]
    unknown = [m for m in plan.spec.metrics if m not in metrics] if any_ok else []
    text = markdown(agg, metrics)
    (out / "summary.md").write_text(text)
    paths.append(out / "summary.md")
    spec = plan.spec
    described = {
        "scenario": str(spec.scenario),
        "grid": {a.path: list(a.values) for a in spec.axes},
        "seeds": plan.seeds,
        "set": spec.overrides,
        "metrics": spec.metrics,
        "records": spec.records,
        "runs": [r.id for r in plan.runs],
    }
    (out / "sweep.json").write_text(json.dumps(described, indent=2) + "\n")
    paths.append(out / "sweep.json")
    if plots and any_ok:
        paths += plot_all(plan, agg, metrics, out / "plots")
    return Outputs(paths, agg, metrics, unknown, text)
