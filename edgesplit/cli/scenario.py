"""`edgesplit scenario validate|run`: check a scenario file, or run it (records, summary, plots, metrics)."""

from __future__ import annotations

import math
import signal
import tempfile
import threading
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgesplit.api import Result
from edgesplit.engines.observer import RunObserver
from edgesplit.engines.sim import SimEngine
from edgesplit.errors import UserError
from edgesplit.metrics import DEFAULT_TOP_DEVICES, Exporter, FleetMetrics, MetricsObserver, start_exporter
from edgesplit.report import headline_rows
from edgesplit.results import RunResult
from edgesplit.scenario import Scenario, load_scenario

app = typer.Typer(help="Validate and run scenario files.", no_args_is_help=True)
console = Console()

SetOption = typer.Option(
    None,
    "--set",
    help="Override a field: --set policy.kind=heft --set fleet.devices.0.count=50 (repeatable).",
)


class ProgressBar(RunObserver):
    """A Rich progress bar over tasks finished, refreshed every few thousand events."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task("simulating", total=total, sim="0.0")

    def on_progress(self, engine: SimEngine) -> None:
        self.progress.update(self.task, completed=engine.finished, sim=f"{engine.now:,.1f}")


@app.command()
def validate(
    path: Path = typer.Argument(..., help="Scenario YAML file."),
    overrides: list[str] = SetOption,
) -> None:
    """Check a scenario file without running it; errors name the file, line and field."""
    sc = load_scenario(path, overrides)
    devices = sum(g.count for g in sc.fleet.devices)
    servers = sum(e.count for e in sc.fleet.edge_servers)
    console.print(
        f"[green]ok[/] {path}: scenario {sc.name!r}, {devices} devices, {servers} edge servers"
        f"{' + cloud' if sc.fleet.cloud else ''}, {len(sc.network.cells)} cells, "
        f"workload {sc.workload.source}, policy {sc.policy.kind}, engine {sc.engine.kind}"
    )


@app.command()
def run(
    path: Path = typer.Argument(..., help="Scenario YAML file."),
    overrides: list[str] = SetOption,
    out: Path | None = typer.Option(None, "--out", help="Output directory (default: outputs.dir or runs/<name>)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or table."),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        help="Serve the run's Prometheus metrics on this port (http://HOST:PORT/metrics); 0: any free port.",
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", help="Address the metrics exporter binds (0.0.0.0: every interface)."
    ),
    metrics_top_devices: int = typer.Option(
        DEFAULT_TOP_DEVICES,
        "--metrics-top-devices",
        help="Per-device series for at most this many devices (most energy first); class totals cover all.",
    ),
    pace: float | None = typer.Option(
        None,
        "--pace",
        help="Run virtual time at X times wall time (e.g. 10: 10 simulated s per second), to watch it live.",
    ),
    hold: bool = typer.Option(
        False,
        "--hold",
        help="Keep the metrics exporter up after the run until Ctrl-C (needs --metrics-port).",
    ),
) -> None:
    """Run a scenario: per-task records, summary.json and plots go to the output directory.

    With --metrics-port the run is exported to Prometheus while it runs (see docs/monitoring.md).
    """
    _check_live_options(metrics_port, metrics_top_devices, pace, hold)
    sc = load_scenario(path, overrides)
    out_dir = ready_out_dir(out or sc.outputs.dir or Path("runs") / sc.name)
    exporter = _start_exporter(metrics_port, metrics_host, metrics_top_devices)
    try:
        _run(sc, out_dir, quiet, exporter, pace)
        if exporter is not None and hold:
            _hold(exporter)
    finally:
        if exporter is not None:
            exporter.close()


def _check_live_options(port: int | None, top_devices: int, pace: float | None, hold: bool) -> None:
    if port is not None and not 0 <= port <= 65535:
        raise UserError(f"--metrics-port must be between 0 and 65535, got {port}")
    if top_devices < 0:
        raise UserError(f"--metrics-top-devices must be 0 or more, got {top_devices}")
    if pace is not None and not (pace > 0.0 and math.isfinite(pace)):
        raise UserError(f"--pace must be a positive number of virtual seconds per wall second, got {pace}")
    if hold and port is None:
        raise UserError("--hold keeps the metrics exporter up after the run: give --metrics-port too")


def ready_out_dir(out_dir: Path) -> Path:
    """Create the output directory and prove it writable before the run, so that no run's results are lost."""
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise NotADirectoryError(0, "a file is in the way")
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise UserError(f"cannot write the output directory: {reason}", str(out_dir)) from None
    return out_dir


def _start_exporter(port: int | None, host: str, top_devices: int) -> Exporter | None:
    if port is None:
        return None
    try:
        exporter = start_exporter(port, host, FleetMetrics(top_devices=top_devices))
    except OSError as err:
        raise UserError(f"cannot serve metrics on {host}:{port}: {err.strerror or err}") from err
    console.print(f"serving metrics on {exporter.url}")
    return exporter


def _hold(exporter: Exporter) -> None:
    """Keep serving until Ctrl-C (SIGINT) or SIGTERM; either ends the command normally (exit code 0)."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    console.print(f"run finished; still serving metrics on {exporter.url} - press Ctrl-C to stop")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("stopped serving metrics")


def _run(sc: Scenario, out_dir: Path, quiet: bool, exporter: Exporter | None, pace: float | None) -> None:
    from edgesplit.engines.factory import prepare
    from edgesplit.gcpause import gc_paused

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tasks  t={task.fields[sim]} s"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    )
    with progress:
        engine = prepare(sc)
        if not engine.workload.real_trace and sc.workload.source == "trace":
            console.print(f"[yellow]note:[/] {engine.workload.source}; `edgesplit trace fetch` gets the real trace")
        engine.observers.append(ProgressBar(progress, len(engine.tasks)))
        if exporter is not None:
            engine.observers.append(MetricsObserver(exporter.metrics))
        if pace is not None:  # --pace; otherwise the engine keeps its own (a Ray scenario's engine.clock: realtime)
            engine.pace = pace
        with gc_paused():
            result = engine.run()
    written = Result(sc, result).write(out_dir)
    if not quiet:
        _print_summary(sc, result)
    console.print(f"wrote {', '.join(str(p) for p in written)}")


def _print_summary(sc: Scenario, result: RunResult) -> None:
    s = result.summary
    table = Table(title=f"{sc.name} — {s['trace_source']}", show_header=False, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in headline_rows(s):
        table.add_row(label, value)
    t = s["tasks"]
    table.add_row("accounting", f"{t['submitted']:,} = {t['completed']:,} + {t['failed']:,} + {t['dropped']:,} ✓")
    console.print(table)
