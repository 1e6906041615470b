"""The device side of the data plane: sends tensors to edge servers, with retries and failover between them."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.generated import edgesplit_pb2_grpc as pb_grpc
from edgesplit.rpc.server import MB, RpcCallback, tune_allocator
from edgesplit.rpc.tensors import TensorError, decode, encode_request

# Codes after which another attempt may succeed. UNAVAILABLE (and a broken stream) moves to the next server;
# DEADLINE_EXCEEDED tries the same one again (its answer may be cached there by then).
FAILOVER = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
RETRY_SAME = {grpc.StatusCode.DEADLINE_EXCEEDED}
_CODE_NAMES = {c.value[0]: c.name for c in grpc.StatusCode}
SERVICE = "/edgesplit.v1.Inference/"


@dataclass
class Request:
    """One tensor to infer (an item of `EdgeClient.infer_stream`); request_id None draws a fresh one."""

    model_id: str
    x: np.ndarray
    request_id: str | None = None
    device_id: str = ""
    split_id: str = ""
    codec: str = "raw"


@dataclass
class InferResult:
    """The outcome of one request: `ok` with logits and predictions, or a failure with its code and reason."""

    request_id: str
    ok: bool
    code: str = "OK"  # gRPC status code name
    detail: str = ""
    logits: np.ndarray | None = None
    predictions: list[int] = field(default_factory=list)
    server_name: str = ""
    server_compute_s: float = 0.0
    latency_s: float = 0.0  # from the last send to the answer
    address: str = ""  # the server that answered (or last tried)
    attempts: int = 0

    @property
    def prediction(self) -> int | None:
        return self.predictions[0] if self.predictions else None


@dataclass
class _Outgoing:
    """A request ready to send: its id and its serialized InferRequest (built once, resent as is)."""

    request_id: str
    payload: bytes


def _payload(out: _Outgoing) -> bytes:
    return out.payload


class _Calls:
    """The three methods on one channel; requests go out as prepared bytes (see tensors.encode_request)."""

    def __init__(self, channel: grpc.Channel) -> None:
        parse = pb.InferResponse.FromString
        self.infer = channel.unary_unary(SERVICE + "Infer", request_serializer=_payload, response_deserializer=parse)
        self.infer_stream = channel.stream_stream(
            SERVICE + "InferStream", request_serializer=_payload, response_deserializer=parse
        )
        self.health = pb_grpc.InferenceStub(channel).Health


def _summary(errors: list[str]) -> str:
    """Distinct errors in order of first appearance, repeats counted: "a; b (x2)"."""
    counts: dict[str, int] = {}
    for e in errors:
        counts[e] = counts.get(e, 0) + 1
    return "; ".join(e if n == 1 else f"{e} (x{n})" for e, n in counts.items())


def _failed(request_id: str, code: str, detail: str, **kw: object) -> InferResult:
    return InferResult(request_id=request_id, ok=False, code=code, detail=detail, **kw)  # type: ignore[arg-type]


class EdgeClient:
    """A client of one or more edge servers (`host:port`); the first address is used until it fails.

    Unary `infer` gives every request a gRPC deadline of `deadline_s` and up to `len(addresses) + retries`
    attempts with the same request_id (the server answers a repeated id from its cache). UNAVAILABLE moves to the
    next address; DEADLINE_EXCEEDED retries the same one. Every request yields exactly one InferResult: errors are
    results with `ok=False`, never exceptions. `on_rpc` is called like FleetMetrics.record_rpc, once per answer.
    `tune_malloc` calls `server.tune_allocator` (process-wide): each request's encoding and gRPC's copy of it are
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
        self._stubs: dict[int, _Calls] = {}
        self._lock = threading.Lock()
        self.current = 0  # index of the address in use

    # -- plumbing -------------------------------------------------------------------------------------------

    def _stub(self, i: int) -> _Calls:
        with self._lock:
            stub = self._stubs.get(i)
            if stub is None:
                addr = self.addresses[i]
                if self._credentials is not None:
                    channel = grpc.secure_channel(addr, self._credentials, options=self._options)
                else:
                    channel = grpc.insecure_channel(addr, options=self._options)
                self._channels[i] = channel
                stub = self._stubs[i] = _Calls(channel)
            return stub

    def _fail_over(self, i: int) -> None:
        """Move on from address i (unless another thread already did)."""
        with self._lock:
            if self.current == i:
                self.current = (i + 1) % len(self.addresses)

    def _record(self, method: str, code: str, sent: int, resp: pb.InferResponse | None, seconds: float) -> None:
        if self.on_rpc is not None:  # ByteSize serializes the message: only when someone wants the figure
            self.on_rpc(method, code, sent, resp.ByteSize() if resp is not None else 0, seconds)

    def _prepare(self, r: Request) -> _Outgoing | InferResult:
        """The bytes to send for `r`, or a failed result when it cannot be sent (bad array, over the size limit)."""
        rid = r.request_id or uuid.uuid4().hex
        try:
            payload = encode_request(
                r.x, model_id=r.model_id, request_id=rid, device_id=r.device_id, split_id=r.split_id, codec=r.codec
            )
        except ValueError as err:
            return _failed(rid, "INVALID_ARGUMENT", f"not sent: {err}")
        size = len(payload)
        if size > self.max_message_bytes:
            # gRPC would fail the call (and a whole stream) for it; refuse this one request instead.
            return _failed(
                rid, "RESOURCE_EXHAUSTED", f"not sent: {size} bytes is over the limit of {self.max_message_bytes}"
            )
        return _Outgoing(rid, payload)

    def _result(self, req: _Outgoing, resp: pb.InferResponse, address: str, t0: float, attempts: int) -> InferResult:
        """The InferResult of an answer (a stream message's own status decides ok or not)."""
        latency = time.perf_counter() - t0
        code = "OK" if resp.status.code == 0 else _CODE_NAMES.get(resp.status.code, str(resp.status.code))
        if code != "OK":
            return _failed(
                req.request_id,
                code,
                resp.status.detail,
                address=address,
                attempts=attempts,
                server_name=resp.server_name,
                latency_s=latency,
            )
        try:
            logits = decode(resp.logits) if resp.HasField("logits") else None
        except TensorError as err:
            return _failed(req.request_id, "DATA_LOSS", f"bad logits in the answer: {err}", address=address)
        return InferResult(
            request_id=req.request_id,
            ok=True,
            logits=logits,
            predictions=list(resp.predictions),
            server_name=resp.server_name,
            server_compute_s=resp.server_compute_s,
            latency_s=latency,
            address=address,
            attempts=attempts,
        )

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
        req = self._prepare(Request(model_id, x, request_id, device_id, split_id, codec))
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
                    return _failed(req.request_id, code.name, detail, address=self.addresses[i], attempts=attempt)
                if attempt % n == 0:  # every address has been tried once more: back off before the next round
                    time.sleep(self.backoff_s * 2 ** (attempt // n - 1))
                continue
            self._record("Infer", "OK", len(req.payload), resp, time.perf_counter() - t0)
            return self._result(req, resp, self.addresses[i], t0, attempt)
        reason = f"gave up after {len(errors)} attempts: {_summary(errors)}"
        return _failed(req.request_id, last, reason, address=self.addresses[self.current], attempts=len(errors))

    def infer_stream(self, requests: Iterable[Request]) -> Iterator[InferResult]:
        """Results of `requests`, in order, over one bidirectional stream at a time (see _StreamRun)."""
        return _StreamRun(self, requests).results()

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


class _Stream:
    """One InferStream call: what it has sent and not yet had answered, in send order."""

    def __init__(self) -> None:
        self.pending: deque[tuple[int, _Outgoing, float]] = deque()
        self.dead = False


class _StreamRun:
    """One `infer_stream` call: the caller's requests go out on one stream at a time, results come back in order.

    The rule that keeps every request accounted for: once taken from the caller's iterable, a request is always
    in exactly one place, the inbox (to send), the pending list of a stream (sent, unanswered) or `done` (a
    result), and it moves between them under one lock. When a stream breaks, its pending requests go back to the
    front of the inbox and the next stream (on the next address for UNAVAILABLE or a broken stream) sends them
    again, with the same request ids. After `len(addresses) + retries` broken streams in a row without an
    answer, everything not yet answered fails with the reasons, and so does everything still to come.

    The stream's own request iterator (`_send`, on a gRPC thread) takes new requests from the caller's iterable
    while fewer than `window` are unanswered; a lock keeps a dying stream's iterator and the next one from
    reading the iterable at once.
    """

    def __init__(self, client: EdgeClient, requests: Iterable[Request]) -> None:
        self.client = client
        self.source = iter(requests)
        self.source_lock = threading.Lock()
        self.cond = threading.Condition()
        self.inbox: deque[tuple[int, _Outgoing]] = deque()
        self.done: dict[int, InferResult] = {}
        self.issued = 0  # requests taken from the caller's iterable
        self.unresolved = 0  # taken, sendable and not yet in `done`
        self.ended = False  # the caller's iterable is exhausted (or raised)
        self.source_error: BaseException | None = None

    def _pull(self) -> None:
        """Take the next request from the caller's iterable into the inbox (or `done` when it cannot be sent)."""
        with self.source_lock:
            if self.ended:
                return
            try:
                r = next(self.source)
            except BaseException as err:  # StopIteration, or the caller's iterable raised: re-raised at the end
                with self.cond:
                    self.ended = True
                    if not isinstance(err, StopIteration):
                        self.source_error = err
                    self.cond.notify_all()
                return
            idx = self.issued
            self.issued += 1
            prepared = self.client._prepare(r)
            with self.cond:
                if isinstance(prepared, InferResult):
                    self.done[idx] = prepared
                else:
                    self.inbox.append((idx, prepared))
                    self.unresolved += 1
                self.cond.notify_all()

    def _send(self, stream: _Stream) -> Iterator[_Outgoing]:
        """The request iterator of one stream (runs on a gRPC thread); ends when the stream dies or all is sent."""
        window = self.client.window
        while True:
            with self.cond:
                while not (stream.dead or self.inbox or self.ended or self.unresolved < window):
                    self.cond.wait()
                if stream.dead:
                    return
                out = None
                if self.inbox:
                    idx, out = self.inbox.popleft()
                    stream.pending.append((idx, out, time.perf_counter()))
                elif self.ended:
                    return  # all sent: half-close; the answers still come
            if out is None:
                self._pull()  # outside the lock: the caller's iterable may block
            else:
                yield out

    def _resolve(self, idx: int, result: InferResult) -> None:
        with self.cond:
            self.done[idx] = result
            self.unresolved -= 1
            self.cond.notify_all()

    def _pop_ready(self, next_out: int) -> tuple[list[InferResult], int]:
        """The results from index `next_out` on that are in, in order, and the next index to wait for."""
        ready = []
        with self.cond:
            while next_out in self.done:
                ready.append(self.done.pop(next_out))
                next_out += 1
        return ready, next_out

    def _finished(self) -> bool:
        with self.cond:
            return self.ended and not self.inbox and self.unresolved == 0

    def results(self) -> Iterator[InferResult]:
        client = self.client
        n = len(client.addresses)
        next_out = 0
        broken = 0  # streams broken in a row without an answer
        errors: list[str] = []
        fatal: tuple[str, str] | None = None
        call = stream = None
        try:
            while fatal is None and not self._finished():
                i = client.current
                address = client.addresses[i]
                stream = _Stream()
                call = client._stub(i).infer_stream(
                    self._send(stream), metadata=client._metadata, timeout=client.stream_deadline_s
                )
                try:
                    for resp in call:
                        with self.cond:
                            idx, req, t0 = stream.pending.popleft()
                        result = client._result(req, resp, address, t0, broken + 1)
                        client._record("InferStream", result.code, len(req.payload), resp, result.latency_s)
                        self._resolve(idx, result)
                        broken, errors = 0, []
                        ready, next_out = self._pop_ready(next_out)
                        yield from ready
                    if stream.pending:  # a server that ends a stream without answering everything
                        raise _Broken(grpc.StatusCode.UNKNOWN, "stream ended with requests unanswered")
                except (grpc.RpcError, _Broken) as err:
                    code, detail = err.code(), err.details() or ""
                    with self.cond:
                        stream.dead = True
                        lost = list(stream.pending)
                        stream.pending.clear()
                        self.cond.notify_all()
                    errors.append(f"{address}: {code.name} {detail}")
                    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and lost:
                        # The server's size limit is below ours and one message broke the stream. Which one is not
                        # said: blame the largest unanswered message (the oldest of equals) and resend the others.
                        worst = max(range(len(lost)), key=lambda k: (len(lost[k][1].payload), -k))
                        idx, req, _ = lost.pop(worst)
                        self._resolve(idx, _failed(req.request_id, code.name, detail, address=address))
                    elif code not in FAILOVER and code not in RETRY_SAME:
                        fatal = (code.name, f"{address}: {detail}")  # e.g. UNAUTHENTICATED: no point going on
                    else:
                        client._fail_over(i)
                        broken += 1
                    with self.cond:
                        self.inbox.extendleft((idx, req) for idx, req, _ in reversed(lost))
                        self.cond.notify_all()
                    if broken >= n + client.retries:
                        fatal = ("UNAVAILABLE", f"every server failed ({broken} tries): {_summary(errors)}")
                    elif broken and broken % n == 0:
                        time.sleep(client.backoff_s * 2 ** (broken // n - 1))
            if fatal is not None:
                yield from self._fail_rest(fatal, next_out)
                return
            ready, next_out = self._pop_ready(next_out)
            yield from ready
            if self.source_error is not None:
                raise self.source_error
        finally:  # also when the consumer stops early: let the request iterator end and the call go
            if stream is not None:
                with self.cond:
                    stream.dead = True
                    self.cond.notify_all()
            if call is not None:
                call.cancel()

    def _fail_rest(self, fatal: tuple[str, str], next_out: int) -> Iterator[InferResult]:
        """After a fatal error: every request not yet answered, including those still to come, fails."""
        code, detail = fatal
        while True:
            with self.cond:
                for idx, req in self.inbox:
                    self.done[idx] = _failed(req.request_id, code, detail)
                    self.unresolved -= 1
                self.inbox.clear()
                ended = self.ended
            ready, next_out = self._pop_ready(next_out)
            yield from ready
            if ended:
                break
            self._pull()
        if self.source_error is not None:
            raise self.source_error


class _Broken(Exception):
    """A stream that ended badly without a gRPC error (treated like one)."""

    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self._code, self._detail = code, detail

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._detail
