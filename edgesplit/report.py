"""Plots and comparison tables of runs: latency CDF, device energy (active and idle apart), side-by-side summaries;
runs of one configuration over several seeds are shown as mean ± 95% confidence interval (Student t)."""

from __future__ import annotations

import json
import math
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edgesplit.errors import UserError
from edgesplit.results import read_records
from edgesplit.sweep.stats import MeanCI, mean_ci

ACTIVE = ("compute", "radio")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's loader, when built in, is ~10x faster

_PER_TASK = ("energy_j.per_task.device_active_mean_j", "energy_j.per_task.device_total_mean_j")
_PER_JOB = ("energy_j.per_job.device_active_mean_j", "energy_j.per_job.device_total_mean_j")

# (label, paths into summary.json (dotted), format with one field per path). The energy rows per task and per
# job come from the per-task records of completed tasks (see energy_summary); the other energy rows, from meters.
HEADLINE: list[tuple[str, tuple[str, ...], str]] = [
    ("policy", ("policy",), "{}"),
    ("seed", ("seed",), "{}"),
    ("tasks submitted", ("tasks.submitted",), "{:,}"),
    ("completed", ("tasks.completed",), "{:,}"),
    ("failed", ("tasks.failed",), "{:,}"),
    ("dropped", ("tasks.dropped",), "{:,}"),
    ("latency mean (s)", ("latency_s.mean",), "{:.3f}"),
    ("latency p50 (s)", ("latency_s.p50",), "{:.3f}"),
    ("latency p95 (s)", ("latency_s.p95",), "{:.3f}"),
    ("latency p99 (s)", ("latency_s.p99",), "{:.3f}"),
    ("job makespan p50 (s)", ("job_makespan_s.p50",), "{:.3f}"),
    ("deadline miss rate (jobs)", ("deadline_miss_rate",), "{:.1%}"),
    ("offload ratio", ("offload_ratio",), "{:.1%}"),
    ("device energy (J)", ("energy_j.device_total",), "{:,.1f}"),
    ("  active: compute + radio (J)", ("energy_j.device_active",), "{:,.1f}"),
    ("  compute (J)", ("energy_j.device_by_component.compute",), "{:,.1f}"),
    ("  radio (J)", ("energy_j.device_by_component.radio",), "{:,.1f}"),
    ("  idle (J)", ("energy_j.device_by_component.idle",), "{:,.1f}"),
    ("device energy per task (J)", _PER_TASK, "{:,.3f} active / {:,.3f} total"),
    ("device energy per job (J)", _PER_JOB, "{:,.3f} active / {:,.3f} total"),
    ("server energy (J)", ("energy_j.server_total",), "{:,.1f}"),
    ("server energy per task (J)", ("energy_j.per_task.server_mean_j",), "{:,.3f}"),
    ("server energy per job (J)", ("energy_j.per_job.server_mean_j",), "{:,.3f}"),
    ("base-station energy (J)", ("energy_j.base_station_total",), "{:,.1f}"),
    ("system energy (J)", ("energy_j.system_total",), "{:,.1f}"),
    ("simulated time (s)", ("sim_time_s",), "{:,.1f}"),
]


def _lookup(summary: dict[str, Any], path: str) -> Any:
    value: Any = summary
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def headline_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, formatted value) pairs of a summary's key figures ("-" where a summary lacks one, e.g. an old run)."""
    rows = []
    for label, paths, fmt in HEADLINE:
        values = [_lookup(summary, path) for path in paths]
        rows.append((label, "-" if None in values else fmt.format(*values)))
    if "cascade" in summary:
        c = summary["cascade"]
        rows += [
            ("cascade accuracy", f"{c['accuracy']:.2%}"),
            ("cache hit ratio", f"{c['cache_hit_ratio']:.1%}"),
            ("model B ratio", f"{c['b_invocation_ratio']:.1%}"),
            ("correct per joule", f"{c['correct_per_joule']:.3f}"),
        ]
    if "dnn" in summary:
        d = summary["dnn"]
        by = ", ".join(f"{k} {v}" for k, v in d["predictions_by"].items())
        rows += [
            ("split-DNN accuracy", f"{d['accuracy']:.2%}"),
            ("correct per joule", f"{d['correct_per_joule']:.3f}"),
            ("predictions by", by or "-"),
        ]
    return rows


def load_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no summary.json); make one with `edgesplit scenario run`")
    return json.loads(path.read_text())


def _pyplot():  # noqa: ANN202 - matplotlib is imported only when a plot is drawn (it is slow to import)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_latency_cdf(runs: dict[str, np.ndarray], path: Path) -> Path:
    """CDF of completed tasks' latency, one line per run."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, lat in runs.items():
        lat = np.sort(lat[~np.isnan(lat)])
        if lat.size:
            ax.step(lat, np.arange(1, lat.size + 1) / lat.size, where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("task latency (s)")
    ax.set_ylabel("fraction of completed tasks")
    ax.set_title("Latency CDF")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_energy_breakdown(runs: dict[str, dict[str, Any]], path: Path) -> Path:
    """Device energy of each run (its summary's `energy_j`) in three panels, each on its own scale, since idle
    power over the run can dwarf what the work costs: active energy (compute + radio stacked) and idle energy,
    one bar per (run, device class), from the meters; and the mean per completed task (active + the idle the
    task was charged while in flight), one bar per run, from the records. Each bar is labelled with its total."""
    plt = _pyplot()
    labels, stacks = [], {c: [] for c in (*ACTIVE, "idle")}
    for run, energy in runs.items():
        for cls, parts in energy["device_by_class"].items():
            labels.append(f"{run}\n{cls}" if len(runs) > 1 else cls)
            for c in stacks:
                stacks[c].append(parts.get(c, 0.0))
    per_task = {run: e["per_task"] for run, e in runs.items() if "per_task" in e}  # absent in older summaries
    names = list(per_task)
    task_active = np.array([per_task[r]["device_active_mean_j"] for r in names], dtype=float)
    task_idle = np.array([per_task[r]["device_total_mean_j"] for r in names], dtype=float) - task_active
    width = max(4.0, 0.8 * len(labels) + 1.5)
    task_width = max(3.0, 0.8 * len(names) + 1.5)
    fig, (act, idle, task) = plt.subplots(
        1, 3, figsize=(2 * width + task_width, 4.6), width_ratios=[width, width, task_width]
    )
    blue, orange, green = plt.rcParams["axes.prop_cycle"].by_key()["color"][:3]
    _stacked(act, labels, [("compute", stacks["compute"], blue), ("radio", stacks["radio"], orange)], "{:,.0f}")
    act.set_title("active: compute + radio")
    act.set_ylabel("device energy (J)")
    _stacked(idle, labels, [("idle", stacks["idle"], green)], "{:,.0f}")
    idle.set_title("idle (whole run)")
    _stacked(task, names, [("active", task_active, blue), ("idle while in flight", task_idle, green)], "{:,.3g}")
    task.set_title("per completed task")
    task.set_ylabel("device energy per task (J)")
    fig.suptitle("Device energy: active and idle apart (each panel on its own scale)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _stacked(ax: Any, labels: list[str], layers: list[tuple[str, Any, str]], fmt: str) -> None:
    """Stacked bars, bottom layer first, with each bar's total written above it and room left for the legend."""
    bottom = np.zeros(len(labels))
    bars = None
    for name, values, colour in layers:
        bars = ax.bar(labels, values, bottom=bottom, label=name, color=colour)
        bottom = bottom + np.asarray(values, dtype=float)
    if bars is not None and len(labels):
        ax.bar_label(bars, labels=[fmt.format(v) for v in bottom], fontsize="small", padding=2)
    finite = bottom[np.isfinite(bottom)]  # a run without a completed task has NaN per task
    top = float(finite.max()) if finite.size else 0.0
    if top > 0.0:  # set, not ax.margins: a zero-height top layer's sticky edge would pin the limit to the bar
        ax.set_ylim(0.0, 1.25 * top)
    ax.tick_params(axis="x", labelsize="small")
    if len(layers) > 1:
        ax.legend(fontsize="small", loc="upper left")


def plot_run(run_dir: Path, latency: list[float] | np.ndarray, summary: dict[str, Any]) -> list[Path]:
    """The two standard plots of one run, written next to its records."""
    return [
        plot_latency_cdf({summary["policy"]: np.asarray(latency, dtype=float)}, run_dir / "latency_cdf.png"),
        plot_energy_breakdown({summary["policy"]: summary["energy_j"]}, run_dir / "energy.png"),
    ]


@dataclass
class Column:
    """One column of a comparison: a run, or the runs of one configuration that differ only in seed."""

    label: str
    dirs: list[Path]
    summaries: list[dict[str, Any]]

    @property
    def grouped(self) -> bool:
        return len(self.dirs) > 1

    @property
    def seeds(self) -> list[Any]:
        return [s.get("seed") for s in self.summaries]


@dataclass
class Comparison:
    """A comparison's table (header, rows of text), its numbers (`data`, written as comparison.json), plots."""

    header: list[str]
    rows: list[list[str]]
    data: dict[str, Any]
    plots: list[Path]
    columns: list[Column] = field(default_factory=list)


def _configuration(run_dir: Path) -> str | None:
    """The run's scenario.yaml without its seed and outputs, canonical; None when it has none."""
    try:
        data = yaml.load((run_dir / "scenario.yaml").read_text(), Loader=_Loader)
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    return json.dumps({k: v for k, v in data.items() if k not in ("seed", "outputs")}, sort_keys=True, default=str)


def _group_label(names: list[str]) -> str:
    """The members' common name ("heft_5MHz-94e248" for "...-s1", "...-s2"), else the first name, with n."""
    prefix = os.path.commonprefix(names)
    prefix = re.sub(r"[-_.]*(seed|s)?[-_.]*$", "", prefix) if prefix != names[0] else prefix
    return f"{prefix or names[0]} (n={len(names)})"


def columns_of(run_dirs: list[Path]) -> list[Column]:
    """One column per run, except that runs sharing a configuration (scenario.yaml equal but for the seed) with
    distinct seeds make one column, at the place of the first of them; the others keep their order."""
    summaries = [load_summary(d) for d in run_dirs]
    members: dict[str, list[int]] = {}
    for i, d in enumerate(run_dirs):
        key = _configuration(d)
        if key is not None:
            members.setdefault(key, []).append(i)
    group_of: dict[int, list[int]] = {}
    for idx in members.values():
        seeds = [summaries[i].get("seed") for i in idx]
        if len(idx) > 1 and len(set(map(str, seeds))) == len(idx):
            for i in idx:
                group_of[i] = idx
    columns, labels = [], set()
    for i, d in enumerate(run_dirs):
        idx = group_of.get(i, [i])
        if idx[0] != i:
            continue
        label = _group_label([run_dirs[j].name for j in idx]) if len(idx) > 1 else d.name
        while label in labels:
            label += "'"
        labels.add(label)
        columns.append(Column(label, [run_dirs[j] for j in idx], [summaries[j] for j in idx]))
    return columns


def _pm(ci: MeanCI, spec: str) -> str:
    """`mean ± half` in a row's format; a count's mean that is not whole gets one decimal."""
    if ci.n == 0:
        return "-"
    mean_spec = half_spec = spec
    if "." not in spec and "%" not in spec:  # "{:,}": counts
        mean_spec = spec + ".0f" if float(ci.mean).is_integer() else spec + ".1f"
        half_spec = spec + ".1f"
    if not math.isfinite(ci.half):
        return format(ci.mean, mean_spec)
    return f"{format(ci.mean, mean_spec)} ± {format(ci.half, half_spec)}"


def _seed_list(seeds: list[Any]) -> str:
    return ", ".join(map(str, seeds)) if len(seeds) <= 6 else f"{seeds[0]}, {seeds[1]}, ... {seeds[-1]} ({len(seeds)})"


def _group_cell(col: Column, paths: tuple[str, ...], fmt: str, stats: dict[str, MeanCI]) -> str:
    values = [[_lookup(s, p) for p in paths] for s in col.summaries]
    if any(v is None for vs in values for v in vs):
        return "-"
    if paths == ("seed",):
        return _seed_list(col.seeds)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values[0]):
        first = values[0]
        return fmt.format(*first) if all(vs == first for vs in values) else "mixed"
    out, fields = [], iter(paths)  # the format's fields follow the paths, in order
    for literal, name, spec, _ in string.Formatter().parse(fmt):
        out.append(literal)
        if name is not None:
            out.append(_pm(stats[next(fields)], spec or ""))
    return "".join(out)


def _number(value: Any) -> Any:
    """A JSON-safe figure: NaN and infinities become null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _column_data(col: Column) -> tuple[dict[str, Any], dict[str, MeanCI]]:
    paths = [p for _, ps, _ in HEADLINE for p in ps]
    base = {"label": col.label, "runs": [str(d) for d in col.dirs], "seeds": col.seeds, "n": len(col.dirs)}
    if not col.grouped:
        return {**base, "values": {p: _number(_lookup(col.summaries[0], p)) for p in paths}}, {}
    stats: dict[str, MeanCI] = {}
    values: dict[str, Any] = {}
    for p in paths:
        found = [_lookup(s, p) for s in col.summaries]
        if p != "seed" and all(isinstance(v, int | float) and not isinstance(v, bool) for v in found):
            stats[p] = mean_ci(found)
            values[p] = _number(stats[p].mean)
        elif p != "seed":
            values[p] = found[0] if all(v == found[0] for v in found) else None
    data = {
        **base,
        "values": values,
        "std": {p: _number(ci.std) for p, ci in stats.items()},
        "ci95": {p: [_number(ci.low), _number(ci.high)] for p, ci in stats.items()},
        "ci95_half": {p: _number(ci.half) for p, ci in stats.items()},
    }
    return data, stats


def _mean_tree(trees: list[Any]) -> Any:
    """The mean of each number across equally shaped summaries' sections (the first one's other values)."""
    first = trees[0]
    if isinstance(first, dict):
        return {k: _mean_tree([t.get(k, v) if isinstance(t, dict) else v for t in trees]) for k, v in first.items()}
    if isinstance(first, int | float) and not isinstance(first, bool):
        numbers = [t for t in trees if isinstance(t, int | float) and not isinstance(t, bool)]
        return float(np.mean(numbers)) if len(numbers) == len(trees) else first
    return first


def _latencies(col: Column) -> np.ndarray | None:
    """Completed tasks' latencies, pooled over the column's runs that kept records (a sweep may not)."""
    found = [
        np.asarray(read_records(d)["latency_s"], dtype=float)
        for d in col.dirs
        if (d / "tasks.csv").is_file() or (d / "tasks.parquet").is_file()
    ]
    return np.concatenate(found) if found else None


def compare_runs(run_dirs: list[Path], out_dir: Path) -> Comparison:
    """Side-by-side table of runs, runs of one configuration over several seeds as one column of mean ± 95%
    CI (Student t); plots overlaid into `out_dir` and the numbers in `out_dir/comparison.json`."""
    if not run_dirs:
        raise UserError("name at least one run directory")
    columns = columns_of(run_dirs)
    header = ["metric", *(c.label for c in columns)]
    data, cells = [], []
    for col in columns:
        numbers, stats = _column_data(col)
        data.append(numbers)
        if col.grouped:
            cells.append({label: _group_cell(col, paths, fmt, stats) for label, paths, fmt in HEADLINE})
        else:
            cells.append(dict(headline_rows(col.summaries[0])))
    rows = [[label, *(c[label] for c in cells)] for label, _, _ in HEADLINE]
    out_dir.mkdir(parents=True, exist_ok=True)
    latencies = {c.label: lat for c in columns if (lat := _latencies(c)) is not None}
    energy = {c.label: _mean_tree([s["energy_j"] for s in c.summaries]) for c in columns}
    plots = [plot_latency_cdf(latencies, out_dir / "latency_cdf.png")] if latencies else []
    plots.append(plot_energy_breakdown(energy, out_dir / "energy.png"))
    document = {
        "header": header,
        "metrics": [{"label": label, "paths": list(paths)} for label, paths, _ in HEADLINE],
        "columns": data,
    }
    (out_dir / "comparison.json").write_text(json.dumps(document, indent=2) + "\n")
    return Comparison(header, rows, document, plots, columns)


def compare(run_dirs: list[Path], out_dir: Path) -> tuple[list[str], list[list[str]], list[Path]]:
    """Side-by-side table (header, rows) of several runs plus overlaid plots written into `out_dir`."""
    c = compare_runs(run_dirs, out_dir)
    return c.header, c.rows, c.plots
