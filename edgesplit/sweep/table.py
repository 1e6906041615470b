"""The runs table of a sweep: one row per run (grid values, seed, status, error, wall time and every numeric
summary figure under its dotted name), written as runs.csv and runs.parquet."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from edgesplit.sweep import store
from edgesplit.sweep.spec import Plan

RUN_COLUMNS = ("run_id", "seed", "status", "error", "run_wall_s")
"""Columns every row has (the grid axes come after run_id); run_wall_s: the run's wall time in its worker."""
COUNTERS = ("tasks.by_reason.", "placements.")
"""Summary sections that list only the reasons and targets that occurred: a figure absent there is a zero."""


def flatten(summary: dict[str, Any], prefix: str = "") -> dict[str, float | int]:
    """Every number in a summary (nested mappings joined with dots); strings, flags and lists are left out
    (lists are per-device and per-fault details: the by-class and by-station mappings cover them)."""
    out: dict[str, float | int] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= flatten(value, f"{name}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value
    return out


def build_rows(plan: Plan, out: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of every planned run, read back from its files (runs done in earlier sweeps included), and the
    metric columns in order of first appearance."""
    axes = [a.path for a in plan.spec.axes]
    rows, metrics = [], {}
    for run in plan.runs:
        meta, summary = store.read_run(out, run)
        row: dict[str, Any] = {"run_id": run.id, **run.point, "seed": run.seed}
        if meta is None:
            row |= {"status": "missing", "error": "no run.json (the sweep was stopped before this run ended)"}
        else:
            row |= {"status": meta.get("status", "failed"), "error": meta.get("error", "")}
        row["run_wall_s"] = (meta or {}).get("run_wall_s")
        figures = flatten(summary) if summary is not None else {}
        figures.pop("seed", None)  # the seed column has it
        for name in figures:
            metrics.setdefault(name, None)
        row["figures"] = figures
        rows.append(row)
    names = [m for m in metrics if m not in axes]
    for row in rows:
        figures = row.pop("figures")
        ok = row["status"] == "ok"
        for name in names:
            default = 0 if ok and name.startswith(COUNTERS) else math.nan
            row[name] = figures.get(name, default)
    return rows, names


def columns(plan: Plan, metrics: list[str]) -> list[str]:
    return ["run_id", *(a.path for a in plan.spec.axes), *RUN_COLUMNS[1:], *metrics]


def write_csv(rows: list[dict[str, Any]], names: list[str], path: Path) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for row in rows:
            w.writerow(["" if _missing(row.get(n)) else row.get(n) for n in names])
    return path


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def write_parquet(rows: list[dict[str, Any]], names: list[str], text: list[str], path: Path) -> Path | None:
    """runs.parquet (the `text` columns as strings, the seed as an integer, the rest as floats), or None when
    pyarrow is not installed (`pip install edgesplit[parquet]`)."""
    try:
        import pyarrow as pa  # lazy: an optional dependency
        import pyarrow.parquet as pq
    except ImportError:
        return None

    def kind(name: str) -> Any:
        return pa.string() if name in text else pa.int64() if name == "seed" else pa.float64()

    table = pa.table({n: pa.array([row.get(n) for row in rows], type=kind(n)) for n in names})
    pq.write_table(table, path)
    return path
