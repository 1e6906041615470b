"""`edgesplit report RUN...`: side-by-side table and overlaid plots of several runs (mean ± CI over seeds)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgesplit.report import compare_runs


def report(
    runs: list[Path] = typer.Argument(..., help="Run directories written by `edgesplit scenario run` or a sweep."),
    out: Path = typer.Option(Path("runs/report"), "--out", help="Where the comparison plots and JSON go."),
) -> None:
    """Compare runs: key figures side by side, latency CDFs and energy bars overlaid. Runs that share a
    configuration (scenario.yaml equal but for the seed) make one column: mean ± 95% CI over their seeds."""
    comparison = compare_runs(runs, out)
    table = Table(*map(escape, comparison.header))
    for row in comparison.rows:
        table.add_row(*map(escape, row))
    console = Console()
    console.print(table)
    groups = [c for c in comparison.columns if c.grouped]
    if groups:
        names = ", ".join(c.label for c in groups)
        console.print(f"{escape(names)}: mean ± 95% confidence interval over seeds (Student t)", highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in [*comparison.plots, out / 'comparison.json'])}", highlight=False)
