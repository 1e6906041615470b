"""The `edgesplit` command line: one Typer app with a sub-app per area."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape as _escape

from edgesplit.errors import UserError

app = typer.Typer(
    name="edgesplit",
    help="A testbed for edge/mobile offloading and split computing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    """Attach the sub-apps (once; imported here so `import edgesplit.cli` stays light)."""
    if app.registered_groups:
        return
    from edgesplit.cli import cascade, report, scenario, serve, split, sweep, trace, train

    app.add_typer(scenario.app, name="scenario")
    app.add_typer(trace.app, name="trace")
    app.add_typer(cascade.app, name="cascade")
    app.add_typer(serve.app, name="serve")
    app.add_typer(split.app, name="split")
    app.command(name="report")(report.report)
    app.command(name="sweep")(sweep.sweep)
    app.command(name="train")(train.train)
    app.command(name="evaluate")(train.evaluate)


def main() -> None:
    """Console entry point: turns a UserError into one message and exit code 2."""
    _register()
    try:
        app()
    except UserError as err:
        Console(stderr=True, soft_wrap=True).print("[bold red]error:[/]", _escape(str(err)), highlight=False)
        sys.exit(2)
