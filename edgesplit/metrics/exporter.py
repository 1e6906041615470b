"""The /metrics HTTP exporter: serves a FleetMetrics registry from a daemon thread."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from prometheus_client import start_http_server

from edgesplit.metrics.collector import FleetMetrics

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer


class Exporter:
    """A running /metrics HTTP server (a daemon thread); `close()` stops it. Also a context manager."""

    def __init__(self, metrics: FleetMetrics, server: WSGIServer, thread: threading.Thread, host: str) -> None:
        self.metrics = metrics
        self._server = server
        self._thread = thread
        self.host = host
        self.port: int = server.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_exporter(port: int, host: str = "127.0.0.1", metrics: FleetMetrics | None = None) -> Exporter:
    """Serve `metrics` (a new FleetMetrics if None) on http://host:port/metrics; port 0 picks a free port.

    Raises OSError when the address cannot be bound (port in use, bad host).
    """
    metrics = metrics if metrics is not None else FleetMetrics()
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return Exporter(metrics, server, thread, host)
