"""`edgesplit trace`: summarise an Alibaba cluster trace and fetch the real one."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from edgesplit.workload.fetch import DEFAULT_URL, fetch_trace
from edgesplit.workload.trace_stats import trace_stats

app = typer.Typer(
    help="Alibaba cluster traces: summary statistics and download of the real v2018 batch_task file.",
    no_args_is_help=True,
)


class Format(StrEnum):
    v2018 = "alibaba-v2018"
    v2017 = "alibaba-v2017"


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def _dist(d: dict[str, float]) -> str:
    return " / ".join(_fmt(d[k]) for k in ("min", "median", "p90", "max"))


def _table(s: dict[str, Any]) -> Table:
    r = s["repairs"]
    table = Table(title=f"{s['path']} ({s['format']})", show_header=False, title_justify="left")
    table.add_column("figure", style="bold")
    table.add_column("value")
    rows = [
        ("rows read", _fmt(r["rows"])),
        ("jobs", _fmt(s["jobs"])),
        ("tasks", _fmt(s["tasks"])),
        ("dependencies", f"{_fmt(s['edges'])} (jobs with any: {_fmt(s['dag_jobs'])})"),
        ("tasks per job min / median / p90 / max", _dist(s["dag_size"])),
        ("duration s min / median / p90 / max", _dist(s["duration_s"])),
        ("plan_cpu min / median / p90 / max", _dist(s["plan_cpu"])),
        ("plan_cpu values (tasks)", ", ".join(f"{k}: {v:,}" for k, v in s["plan_cpu_values"].items())),
        ("instances min / median / p90 / max", _dist(s["instance_num"])),
        ("status (tasks)", ", ".join(f"{k}: {v:,}" for k, v in s["status"].items())),
        ("arrivals first / last s", f"{_fmt(s['arrival_s']['first'])} / {_fmt(s['arrival_s']['last'])}"),
        ("header lines / skipped bad lines", f"{r['header_lines']} / {r['skipped_lines']}"),
        ("jobs filtered out", _fmt(r["filtered_jobs"])),
        ("truncated names repaired", _fmt(r["truncated_names"])),
        ("duplicate tasks dropped", _fmt(r["duplicate_tasks"])),
        (
            "self / dangling / cycle deps dropped",
            "{dropped_self_deps} / {dropped_dangling_deps} / {dropped_cycle_deps}".format(**r),
        ),
        ("imputed durations", _fmt(r["imputed_durations"])),
        ("dangling deps remaining", str(s["dangling_deps_remaining"])),
        ("jobs with cycles remaining", str(s["cycles_remaining"])),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


@app.command()
def stats(
    path: Path = typer.Argument(..., help="batch_task file: .csv, .gz or .tar.gz (header row optional)."),
    fmt: Format = typer.Option(Format.v2018, "--format", "-f", help="Trace format."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help="Count and skip malformed lines."),
    start_s: float | None = typer.Option(None, "--start", help="Keep jobs arriving at or after this (s)."),
    end_s: float | None = typer.Option(None, "--end", help="Keep jobs arriving before this (s)."),
    max_jobs: int | None = typer.Option(None, "--max-jobs", min=0, help="Keep the first N jobs by arrival."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON instead of a table."),
) -> None:
    """Parse a trace, repair its DAGs and print jobs, tasks, size/duration figures and repairs."""
    s = trace_stats(path, fmt.value, skip_bad_lines=skip_bad_lines, start_s=start_s, end_s=end_s, max_jobs=max_jobs)
    if as_json:
        typer.echo(json.dumps(s, indent=2))
    else:
        Console().print(_table(s))


@app.command()
def fetch(
    url: str = typer.Option(DEFAULT_URL, "--url", help="Where to download the batch_task archive from."),
    cache: Path | None = typer.Option(
        None,
        "--cache-dir",
        help="Directory to keep it in (default: $EDGESPLIT_CACHE/traces, else ~/.cache/edgesplit/traces).",
    ),
    sha256: str | None = typer.Option(None, "--sha256", help="Expected sha256 of the file (hex)."),
    force: bool = typer.Option(False, "--force", help="Download again even if the file is there."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Download the real v2018 batch_task.tar.gz (125 MB; resumable; checksum-verified)."""
    path = fetch_trace(url, cache, sha256=sha256, force=force, progress=progress)
    typer.echo(str(path))
