"""`edgesplit serve edge`: run the gRPC edge inference server on a directory of split models."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import typer

from edgesplit.errors import UserError

app = typer.Typer(help="Serve split models over gRPC (the data plane of split computing).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Serve split models over gRPC (the data plane of split computing)."""
    # A callback keeps `edge` a subcommand even while it is the only one.


@app.command("edge")
def edge(
    models: Path | None = typer.Option(
        None, "--models", help="Directory of <model_id>/{meta.json, tail.pt}.", show_default=False
    ),
    port: int = typer.Option(50051, "--port", help="TCP port; 0 picks a free one (printed)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; 0.0.0.0 exposes it to the network."),
    workers: int = typer.Option(8, "--workers", min=1, help="RPC threads (an open stream holds one)."),
    max_message_mb: float = typer.Option(64.0, "--max-message-mb", min=0.001, help="Message size limit, both ways."),
    batch_max: int = typer.Option(1, "--batch-max", min=1, help="Requests per micro-batch (1: no batching)."),
    batch_wait_ms: float = typer.Option(2.0, "--batch-wait-ms", min=0.0, help="How long a batch waits to fill."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate (with --tls-key): serve TLS."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    token: str | None = typer.Option(
        None, "--token", envvar="EDGESPLIT_TOKEN", help="Require `authorization: Bearer TOKEN` (env EDGESPLIT_TOKEN)."
    ),
    echo: bool = typer.Option(False, "--echo", help="Also serve model `_echo` (no compute; for benchmarks)."),
    grace_s: float = typer.Option(5.0, "--grace", help="Seconds in-flight RPCs get to finish on SIGINT/SIGTERM."),
) -> None:
    """Serve the tails of split models until SIGINT/SIGTERM, then stop gracefully."""
    from edgesplit.rpc.server import EdgeServer  # grpc and torch load only when serving

    if models is None and not echo:
        raise UserError("give --models DIR (or --echo for the benchmark model only)")
    if models is not None and not models.is_dir():
        raise UserError("models directory not found", where=str(models))
    if (tls_cert is None) != (tls_key is None):
        raise UserError("--tls-cert and --tls-key go together")
    for f in (tls_cert, tls_key):
        if f is not None and not f.is_file():
            raise UserError("file not found", where=str(f))
    server = EdgeServer(
        models if models is not None else {},
        host,
        port,
        workers=workers,
        max_message_mb=max_message_mb,
        batch_max=batch_max,
        batch_wait_ms=batch_wait_ms,
        tls_cert=tls_cert,
        tls_key=tls_key,
        token=token,
        echo=echo,
    )
    bound = server.start()
    ids = ", ".join(sorted(server.inferencer.models))
    extras = [s for s, on in (("TLS", server.tls), ("token", token), (f"batch {batch_max}", batch_max > 1)) if on]
    # plain print with flush: scripts that start us read the port from a pipe
    print(f"serving {ids} on {host}:{bound}" + (f" ({', '.join(extras)})" if extras else ""), flush=True)

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):  # a timed wait lets the main thread run the signal handler
            pass
        print(f"stopping (grace {grace_s:g} s)", flush=True)
        server.stop(grace_s if grace_s >= 0 else None)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("stopped", flush=True)
