"""`edgesplit report RUN...`: side-by-side table and overlaid plots of several runs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from edgesplit.report import compare


def report(
    runs: list[Path] = typer.Argument(..., help="Run directories written by `edgesplit scenario run`."),
    out: Path = typer.Option(Path("runs/report"), "--out", help="Where the comparison plots and JSON go."),
) -> None:
    """Compare runs: key figures side by side, latency CDFs and energy bars overlaid."""
    header, rows, plots = compare(runs, out)
    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(f"wrote {', '.join(str(p) for p in plots)}")
