"""Plots and comparison tables of runs: latency CDF, energy by device class and component, side-by-side summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.errors import UserError
from edgesplit.results import read_records

COMPONENTS = ("compute", "radio", "idle")

# (label, path into summary.json, format)
HEADLINE: list[tuple[str, tuple[str, ...], str]] = [
    ("policy", ("policy",), "{}"),
    ("seed", ("seed",), "{}"),
    ("tasks submitted", ("tasks", "submitted"), "{:,}"),
    ("completed", ("tasks", "completed"), "{:,}"),
    ("failed", ("tasks", "failed"), "{:,}"),
    ("dropped", ("tasks", "dropped"), "{:,}"),
    ("latency mean (s)", ("latency_s", "mean"), "{:.3f}"),
    ("latency p50 (s)", ("latency_s", "p50"), "{:.3f}"),
    ("latency p95 (s)", ("latency_s", "p95"), "{:.3f}"),
    ("latency p99 (s)", ("latency_s", "p99"), "{:.3f}"),
    ("job makespan p50 (s)", ("job_makespan_s", "p50"), "{:.3f}"),
    ("deadline miss rate (jobs)", ("deadline_miss_rate",), "{:.1%}"),
    ("offload ratio", ("offload_ratio",), "{:.1%}"),
    ("device energy (J)", ("energy_j", "device_total"), "{:,.1f}"),
    ("  compute (J)", ("energy_j", "device_by_component", "compute"), "{:,.1f}"),
    ("  radio (J)", ("energy_j", "device_by_component", "radio"), "{:,.1f}"),
    ("  idle (J)", ("energy_j", "device_by_component", "idle"), "{:,.1f}"),
    ("server energy (J)", ("energy_j", "server_total"), "{:,.1f}"),
    ("simulated time (s)", ("sim_time_s",), "{:,.1f}"),
]


def headline_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, formatted value) pairs of a summary's key figures."""
    rows = []
    for label, path, fmt in HEADLINE:
        value: Any = summary
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        rows.append((label, "-" if value is None else fmt.format(value)))
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


def plot_energy_breakdown(runs: dict[str, dict[str, dict[str, float]]], path: Path) -> Path:
    """Stacked bars of device energy by component, one bar per (run, device class)."""
    plt = _pyplot()
    labels, stacks = [], {c: [] for c in COMPONENTS}
    for run, by_class in runs.items():
        for cls, parts in by_class.items():
            labels.append(f"{run}\n{cls}" if len(runs) > 1 else cls)
            for c in COMPONENTS:
                stacks[c].append(parts.get(c, 0.0))
    fig, ax = plt.subplots(figsize=(max(6.4, 0.9 * len(labels) + 2), 4.2))
    bottom = np.zeros(len(labels))
    for c in COMPONENTS:
        ax.bar(labels, stacks[c], bottom=bottom, label=c)
        bottom += np.array(stacks[c])
    ax.set_ylabel("device energy (J)")
    ax.set_title("Device energy by class and component")
    ax.legend(fontsize="small")
    ax.tick_params(axis="x", labelsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_run(run_dir: Path, latency: list[float] | np.ndarray, summary: dict[str, Any]) -> list[Path]:
    """The two standard plots of one run, written next to its records."""
    return [
        plot_latency_cdf({summary["policy"]: np.asarray(latency, dtype=float)}, run_dir / "latency_cdf.png"),
        plot_energy_breakdown({summary["policy"]: summary["energy_j"]["device_by_class"]}, run_dir / "energy.png"),
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
    energy = {label: s["energy_j"]["device_by_class"] for label, (_, s) in summaries.items()}
    plots = [
        plot_latency_cdf(latencies, out_dir / "latency_cdf.png"),
        plot_energy_breakdown(energy, out_dir / "energy.png"),
    ]
    (out_dir / "comparison.json").write_text(json.dumps({"header": header, "rows": rows}, indent=2) + "\n")
    return header, rows, plots
