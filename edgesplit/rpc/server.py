"""The edge inference server: runs split-model tails on tensors sent by devices over gRPC.

For throughput, `EdgeServer.start` keeps glibc from handing the memory of large messages back to the kernel after
every message (`alloc.tune_allocator`; docs/rpc.md, "Performance", has the measurements).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from concurrent import futures
from pathlib import Path

import grpc

from edgesplit.errors import UserError
from edgesplit.rpc.alloc import tune_allocator
from edgesplit.rpc.auth import TokenInterceptor
from edgesplit.rpc.inference import Inferencer
from edgesplit.rpc.models import EchoModel, TailModel, load_model_dir
from edgesplit.rpc.service import MB, RpcCallback
from edgesplit.rpc.servicer import InferenceServicer, method_handlers


def _read(value: str | Path | bytes) -> bytes:
    return value if isinstance(value, bytes) else Path(value).read_bytes()


class EdgeServer:
    """A gRPC inference server in this process: `port = EdgeServer(models).start()`, later `.stop(grace)`.

    `models` is a mapping of model id to TailModel or a model directory. `echo=True` adds the benchmark model
    "_echo" (no compute). `max_message_mb` limits messages both ways; a larger request is refused by gRPC with
    RESOURCE_EXHAUSTED. `workers` threads serve RPCs (an open stream holds one). With `batch_max > 1`, requests for
    the same model within `batch_wait_ms` of each other run as one batch. `tune_malloc` calls `tune_allocator` at
    start (process-wide; it saves about a third of the server's CPU time per large message, see its docstring).
    """

    def __init__(
        self,
        models: Mapping[str, TailModel] | str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        workers: int = 8,
        max_message_mb: float = 64,
        batch_max: int = 1,
        batch_wait_ms: float = 2.0,
        tls_cert: str | Path | bytes | None = None,
        tls_key: str | Path | bytes | None = None,
        token: str | None = None,
        on_rpc: RpcCallback | None = None,
        echo: bool = False,
        name: str | None = None,
        cache_size: int = 1024,
        interceptors: Sequence[grpc.ServerInterceptor] = (),
        tune_malloc: bool = True,
    ) -> None:
        loaded = dict(load_model_dir(models) if isinstance(models, str | Path) else models)
        if echo:
            loaded[EchoModel.model_id] = EchoModel()
        if (tls_cert is None) != (tls_key is None):
            raise UserError("TLS needs both a certificate and a key")
        self.host = host
        self.port = port
        self._name = name
        self.inferencer = Inferencer(
            loaded, batch_max=batch_max, batch_wait_s=batch_wait_ms / 1000, cache_size=cache_size
        )
        limit = int(max_message_mb * MB)
        self._options = [
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            ("grpc.so_reuseport", 0),  # a taken port must be an error, not a shared listener
        ]
        self._interceptors = ([TokenInterceptor(token, on_rpc)] if token else []) + list(interceptors)
        self._credentials = (
            grpc.ssl_server_credentials([(_read(tls_key), _read(tls_cert))]) if tls_cert and tls_key else None
        )
        self._workers = workers
        self._on_rpc = on_rpc
        self._tune_malloc = tune_malloc
        self._server: grpc.Server | None = None

    @property
    def address(self) -> str:
        """host:port to dial (the bound port once started)."""
        return f"{self.host}:{self.port}"

    @property
    def tls(self) -> bool:
        return self._credentials is not None

    def start(self) -> int:
        """Bind, start serving and return the port (port 0 picks a free one)."""
        if self._tune_malloc:
            tune_allocator()
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="edge-rpc"),
            handlers=[method_handlers(InferenceServicer(self.inferencer, self._on_rpc))],
            interceptors=self._interceptors,
            options=self._options,
        )
        target = f"{self.host}:{self.port}"
        try:
            if self._credentials is not None:
                port = server.add_secure_port(target, self._credentials)
            else:
                port = server.add_insecure_port(target)
        except RuntimeError as err:
            raise UserError(f"cannot listen on {target}: {err}") from None
        if port == 0:
            raise UserError(f"cannot listen on {target}")
        self.port = port
        self.inferencer.name = self._name or f"{socket.gethostname()}:{port}"
        server.start()
        self._server = server
        self.inferencer.serving = True
        return port

    def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, refuse new RPCs, let those in flight finish for up to `grace` s (None: no limit)."""
        self.inferencer.serving = False
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None
        self.inferencer.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (True) or `timeout` passes (False)."""
        return self._server.wait_for_termination(timeout) if self._server is not None else True

    def __enter__(self) -> EdgeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(0)
