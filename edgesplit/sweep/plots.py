"""A sweep's figures: one plot per metric against a grid axis with 95% CI bands (whiskers where the axis is
categories), and the Markdown table."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from edgesplit.sweep.aggregate import Aggregate, Key
from edgesplit.sweep.spec import Plan

LINE_AXIS = "policy.kind"
"""The axis drawn as one line per value when the grid has it and another axis."""


def _pyplot() -> Any:
    import matplotlib  # lazy: matplotlib is slow to import and only plots need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_axes(axes: list[str]) -> tuple[str, list[str]] | None:
    """(x axis, axes drawn as lines): x is the last axis other than policy.kind, every other axis makes lines."""
    if not axes:
        return None
    others = [a for a in axes if a != LINE_AXIS]
    x = others[-1] if others else axes[-1]
    return x, [a for a in axes if a != x]


def number(value: float) -> str:
    """A figure for tables: four significant digits, thousands separated, "-" when missing."""
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def mean_pm(mean: float, half: float) -> str:
    """`mean ± half`, the half-width to two significant digits and the mean to the same decimal place (just the
    mean when there is no interval: a single seed)."""
    if mean is None or not math.isfinite(mean):
        return "-"
    if half is None or not math.isfinite(half):
        return number(mean)
    if half == 0:
        return f"{number(mean)} ± 0"
    decimals = min(9, max(0, 1 - math.floor(math.log10(abs(half)))))
    return f"{mean:,.{decimals}f} ± {half:,.{decimals}f}"


def _filename(metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", metric) + ".png"


def plot_metric(plan: Plan, agg: Aggregate, metric: str, path: Path) -> Path | None:
    """`metric` against the x axis (plot_axes), one line per value of the other axes, each with its CI band."""
    chosen = plot_axes(agg.axes)
    if chosen is None:
        return None
    x_axis, line_axes = chosen
    xi = agg.axes.index(x_axis)
    x_values = list(next(a for a in plan.spec.axes if a.path == x_axis).values)
    numeric = plan.numeric.get(x_axis)
    positions = [numeric[v] for v in x_values] if numeric else list(range(len(x_values)))
    lines: dict[Key, dict[str, Any]] = {}
    for key in agg.points:
        line = tuple(key[agg.axes.index(a)] for a in line_axes)
        lines.setdefault(line, {})[key[xi]] = agg.get(key, metric)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    seeds = set()
    width = 0.3 / max(1, len(lines))  # categories: each line's points a little apart, so whiskers do not overlap
    for i, (line, by_x) in enumerate(lines.items()):
        xs, mean, low, high = [], [], [], []
        for pos, value in zip(positions, x_values, strict=True):
            ci = by_x.get(value)
            if ci is None or not math.isfinite(ci.mean):
                continue
            seeds.add(ci.n)
            xs.append(pos)
            mean.append(ci.mean)
            low.append(ci.low if math.isfinite(ci.half) else ci.mean)
            high.append(ci.high if math.isfinite(ci.half) else ci.mean)
        if not xs:
            continue
        label = ", ".join(line) if line else metric
        if numeric:  # values along a scale: a line with its CI band
            (drawn,) = ax.plot(xs, mean, marker="o", label=label)
            ax.fill_between(xs, low, high, color=drawn.get_color(), alpha=0.2, linewidth=0)
        else:  # categories: no line between them, a point with its CI whiskers
            shift = (i - (len(lines) - 1) / 2) * width
            err = [[m - lo for m, lo in zip(mean, low, strict=True)], [h - m for m, h in zip(mean, high, strict=True)]]
            ax.errorbar([x + shift for x in xs], mean, yerr=err, fmt="o", capsize=4, label=label)
    if numeric and min(positions) > 0 and max(positions) / min(positions) >= 10:
        ax.set_xscale("log")
    ax.set_xticks(positions, x_values)
    ax.minorticks_off()
    ax.set_xlabel(x_axis)
    ax.set_ylabel(metric)
    n = f"{min(seeds)}" if len(seeds) == 1 else f"{min(seeds)}-{max(seeds)}" if seeds else "0"
    ax.set_title(f"{metric}: mean and 95% CI over {n} seed(s)", fontsize="medium")
    ax.grid(True, alpha=0.3)
    if line_axes:
        ax.legend(title=", ".join(line_axes), fontsize="small", title_fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_all(plan: Plan, agg: Aggregate, metrics: list[str], out_dir: Path) -> list[Path]:
    """One plot per metric into `out_dir` (none when the grid has no axis: then there is nothing to plot against)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [plot_metric(plan, agg, m, out_dir / _filename(m)) for m in metrics]
    return [p for p in paths if p is not None]


def markdown(agg: Aggregate, metrics: list[str]) -> str:
    """A Markdown table: one row per grid point, `mean ± 95% CI half-width` per metric, and ok/planned runs."""
    header = [*agg.axes, "runs ok", *metrics]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i < len(agg.axes) else "---:" for i in range(len(header))) + "|",
    ]
    for key in agg.points:
        ok = f"{agg.runs[key] - agg.failed[key]}/{agg.runs[key]}"
        cells = [mean_pm(agg.get(key, m).mean, agg.get(key, m).half) for m in metrics]
        lines.append("| " + " | ".join([*key, ok, *cells]) + " |")
    return "\n".join(lines) + "\n"
