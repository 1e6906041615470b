"""`edgesplit sweep FILE --grid path=v1,v2 --seeds N`: a grid of scenario overrides x seeds on Ray tasks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from edgesplit.cli.scenario import ready_out_dir
from edgesplit.errors import UserError
from edgesplit.sweep.outputs import Outputs, write_outputs
from edgesplit.sweep.plots import mean_pm
from edgesplit.sweep.spec import PlannedRun, build_spec, plan

console = Console()


def sweep(
    target: Path = typer.Argument(
        ..., help="A scenario file, or a sweep file (experiments/*.yaml; see docs/sweep.md)."
    ),
    grid: list[str] = typer.Option(
        None, "--grid", help="An axis: --grid policy.kind=local,edge,heft (repeatable; values read as YAML)."
    ),
    overrides: list[str] = typer.Option(
        None, "--set", help="A fixed override for every run: --set stop.max_time_s=60."
    ),
    seeds: int | None = typer.Option(
        None, "--seeds", help="Seeds per grid point, counting up from the scenario's seed (default 1, or the file's)."
    ),
    metrics: list[str] = typer.Option(
        None, "--metric", help="A summary figure to tabulate and plot, dotted: latency_s.p95 (repeatable)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output directory (default: the file's out, or runs/sweep-NAME)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Runs at once; a local Ray gets this many CPUs (default: one per core)."
    ),
    address: str | None = typer.Option(
        None, "--address", help="Run on this Ray cluster (default: $RAY_ADDRESS; neither: a local Ray)."
    ),
    records: str | None = typer.Option(None, "--records", help="Keep each run's task records: none, csv or parquet."),
    batch: int | None = typer.Option(
        None, "--batch", help="Runs per Ray task (default: chosen from runs and workers)."
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw a plot per metric against a grid axis."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
) -> None:
    """Run every grid point x seed (resumable: runs already done are skipped), then write runs.csv,
    runs.parquet, aggregate.csv (mean, std, 95% CI), summary.md and plots. Exit code 1 if a run failed."""
    from edgesplit.sweep.runner import run_sweep  # Ray and the engines load only once the input is valid

    for name, value in (("--workers", workers), ("--batch", batch)):
        if value is not None and value < 1:
            raise UserError(f"{name} must be 1 or more, got {value}")
    spec = build_spec(target, grid, overrides, seeds, metrics, records)
    the_plan = plan(spec)
    out_dir = ready_out_dir(out or spec.out or Path("runs") / f"sweep-{target.stem}")
    if not quiet:
        axes = " x ".join(f"{len(a.values)} {a.path}" for a in spec.axes) or "no grid axis"
        console.print(f"{len(the_plan.runs)} runs: {axes} x {len(the_plan.seeds)} seed(s) -> {out_dir}")
    progress = Progress(
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )
    failures: list[tuple[PlannedRun, str]] = []
    with progress:
        bar = progress.add_task("runs", total=len(the_plan.runs), failed=0)

        def on_result(run: PlannedRun, meta: dict) -> None:
            if meta["status"] == "failed":
                failures.append((run, meta.get("error", "")))
            progress.update(bar, advance=1, failed=len(failures))

        try:
            stats = run_sweep(the_plan, out_dir, workers=workers, address=address, batch=batch, on_result=on_result)
        except KeyboardInterrupt:
            progress.stop()
            console.print("stopped; the runs that ended are kept: run the same command again to finish the rest")
            raise typer.Exit(130) from None
    written = write_outputs(the_plan, out_dir, plots=plots)
    if not quiet:
        _print_table(written)
    for metric in written.unknown:
        console.print(
            f"[yellow]note:[/] no run has a numeric summary figure {escape(metric)!r}; see runs.csv's columns"
        )
    done = f"{stats.ran} ran" + (f" ({stats.failed} failed)" if stats.failed else "")
    console.print(f"{stats.total} runs: {done}, {stats.skipped} skipped (done before)")
    for run, error in failures[:5]:
        console.print(f"[red]failed[/] {run.id} ({escape(run.label)}): {escape(error)}", highlight=False)
    if len(failures) > 5:
        console.print(f"... and {len(failures) - 5} more; each run's error is in runs.csv and its run.json")
    console.print(f"wrote {', '.join(str(p) for p in written.paths)}", highlight=False)
    if failures:
        raise typer.Exit(1)


def _print_table(written: Outputs) -> None:
    agg = written.agg
    table = Table(*agg.axes, "runs ok", *written.metrics, title="mean ± 95% CI (Student t over seeds)")
    for key in agg.points:
        cells = [mean_pm(agg.get(key, m).mean, agg.get(key, m).half) for m in written.metrics]
        table.add_row(*map(escape, key), f"{agg.runs[key] - agg.failed[key]}/{agg.runs[key]}", *cells)
    console.print(table)
