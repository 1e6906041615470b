"""The device side of the data plane: sends tensors to edge servers, with retries and failover between them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import grpc
import numpy as np

from edgesplit.rpc.alloc import tune_allocator
from edgesplit.rpc.calls import Calls
from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.results import FAILOVER, RETRY_SAME, InferResult, Request, failed, prepare, summarize, to_result
from edgesplit.rpc.service import MB, RpcCallback
from edgesplit.rpc.stream import StreamRun


class EdgeClient:
    """A client of one or more edge servers (`host:port`); the first address is used until it fails.

    Unary `infer` gives every request a gRPC deadline of `deadline_s` and up to `len(addresses) + retries`
    attempts with the same request_id (the server answers a repeated id from its cache). UNAVAILABLE moves to the
    next address; DEADLINE_EXCEEDED retries the same one. Every request yields exactly one InferResult: errors are
    results with `ok=False`, never exceptions. `on_rpc` is called like FleetMetrics.record_rpc, once per answer.
    `tune_malloc` calls `alloc.tune_allocator` (process-wide): each request's encoding and gRPC's copy of it are
    fresh buffers of the message's size, which glibc otherwise hands back to the kernel and page-faults in again
    for the next one (measured at 1 MB: a quarter of the client's CPU time on a stream, two thirds on unary calls).
    """

    def __init__(
        self,
        addresses: list[str] | str,
        *,
        token: str | None = None,
        root_cert: str | Path | bytes | None = None,
        tls_server_name: str | None = None,
        deadline_s: float = 10.0,
        retries: int = 2,
        backoff_s: float = 0.05,
        max_message_mb: float = 64,
        window: int = 32,
        stream_deadline_s: float | None = None,
        on_rpc: RpcCallback | None = None,
        tune_malloc: bool = True,
    ) -> None:
        self.addresses = [addresses] if isinstance(addresses, str) else list(addresses)
        if not self.addresses:
            raise ValueError("EdgeClient needs at least one address")
        self.deadline_s = deadline_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_message_bytes = int(max_message_mb * MB)
        self.window = max(1, window)
        self.stream_deadline_s = stream_deadline_s
        self.on_rpc = on_rpc
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        if root_cert is not None:
            pem = root_cert if isinstance(root_cert, bytes) else Path(root_cert).read_bytes()
            self._credentials: grpc.ChannelCredentials | None = grpc.ssl_channel_credentials(root_certificates=pem)
        else:
            self._credentials = None
        if tune_malloc:
            tune_allocator()
        self._options = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            # reconnect soon after a server comes back instead of gRPC's default 1 s .. 120 s backoff
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        if tls_server_name:
            self._options.append(("grpc.ssl_target_name_override", tls_server_name))
        self._channels: dict[int, grpc.Channel] = {}
        self._stubs: dict[int, Calls] = {}
        self._lock = threading.Lock()
        self.current = 0  # index of the address in use

    # -- plumbing -------------------------------------------------------------------------------------------

    def _stub(self, i: int) -> Calls:
        with self._lock:
            stub = self._stubs.get(i)
            if stub is None:
                addr = self.addresses[i]
                if self._credentials is not None:
                    channel = grpc.secure_channel(addr, self._credentials, options=self._options)
                else:
                    channel = grpc.insecure_channel(addr, options=self._options)
                self._channels[i] = channel
                stub = self._stubs[i] = Calls(channel)
            return stub

    def _fail_over(self, i: int) -> None:
        """Move on from address i (unless another thread already did)."""
        with self._lock:
            if self.current == i:
                self.current = (i + 1) % len(self.addresses)

    def _record(self, method: str, code: str, sent: int, resp: pb.InferResponse | None, seconds: float) -> None:
        if self.on_rpc is not None:  # ByteSize serializes the message: only when someone wants the figure
            self.on_rpc(method, code, sent, resp.ByteSize() if resp is not None else 0, seconds)

    # -- API ------------------------------------------------------------------------------------------------

    def health(self, address_index: int | None = None) -> pb.HealthResponse:
        """The Health answer of one server (the current one by default); raises grpc.RpcError when it is down."""
        i = self.current if address_index is None else address_index
        return self._stub(i).health(pb.HealthRequest(), timeout=self.deadline_s)

    def infer(
        self,
        model_id: str,
        x: np.ndarray,
        *,
        request_id: str | None = None,
        device_id: str = "",
        split_id: str = "",
        codec: str = "raw",
    ) -> InferResult:
        """Run the tail of `model_id` on `x` (`[N, *input_shape]`); codec "raw" or "q8" (one byte a value)."""
        req = prepare(Request(model_id, x, request_id, device_id, split_id, codec), self.max_message_bytes)
        if isinstance(req, InferResult):
            return req
        n = len(self.addresses)
        errors: list[str] = []
        last = "UNAVAILABLE"
        for attempt in range(1, n + self.retries + 1):
            i = self.current
            t0 = time.perf_counter()
            try:
                resp = self._stub(i).infer(req, timeout=self.deadline_s, metadata=self._metadata)
            except grpc.RpcError as err:
                code = err.code()
                self._record("Infer", code.name, len(req.payload), None, time.perf_counter() - t0)
                errors.append(f"{self.addresses[i]}: {code.name} {err.details()}")
                last = code.name
                if code in FAILOVER:
                    self._fail_over(i)
                elif code not in RETRY_SAME:
                    detail = err.details() or ""
                    return failed(req.request_id, code.name, detail, address=self.addresses[i], attempts=attempt)
                if attempt % n == 0:  # every address has been tried once more: back off before the next round
                    time.sleep(self.backoff_s * 2 ** (attempt // n - 1))
                continue
            self._record("Infer", "OK", len(req.payload), resp, time.perf_counter() - t0)
            return to_result(req, resp, self.addresses[i], t0, attempt)
        reason = f"gave up after {len(errors)} attempts: {summarize(errors)}"
        return failed(req.request_id, last, reason, address=self.addresses[self.current], attempts=len(errors))

    def infer_stream(self, requests: Iterable[Request]) -> Iterator[InferResult]:
        """Results of `requests`, in order, over one bidirectional stream at a time (see StreamRun)."""
        return StreamRun(self, requests).results()

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
            self._stubs.clear()

    def __enter__(self) -> EdgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
