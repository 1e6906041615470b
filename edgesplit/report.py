"""Plots and comparison tables of runs: latency CDF, device energy (active and idle apart), side-by-side summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.errors import UserError
from edgesplit.results import read_records

ACTIVE = ("compute", "radio")

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


def compare(run_dirs: list[Path], out_dir: Path) -> tuple[list[str], list[list[str]], list[Path]]:
    """Side-by-side table (header, rows) of several runs plus overlaid plots written into `out_dir`."""
    if not run_dirs:
        raise UserError("name at least one run directory")
    summaries = {}
    for d in run_dirs:
        label = d.name
        while label in summaries:
            label += "'"
        summaries[label] = (d, load_summary(d))
    header = ["metric", *summaries]
    columns = [dict(headline_rows(s)) for _, s in summaries.values()]
    rows = [[label, *(c[label] for c in columns)] for label, _, _ in HEADLINE]
    out_dir.mkdir(parents=True, exist_ok=True)
    latencies = {label: np.asarray(read_records(d)["latency_s"], dtype=float) for label, (d, _) in summaries.items()}
    energy = {label: s["energy_j"] for label, (_, s) in summaries.items()}
    plots = [
        plot_latency_cdf(latencies, out_dir / "latency_cdf.png"),
        plot_energy_breakdown(energy, out_dir / "energy.png"),
    ]
    (out_dir / "comparison.json").write_text(json.dumps({"header": header, "rows": rows}, indent=2) + "\n")
    return header, rows, plots
