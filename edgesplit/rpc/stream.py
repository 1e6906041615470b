"""One `EdgeClient.infer_stream` call: requests over one bidirectional stream at a time, resent when it breaks."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Protocol

import grpc

from edgesplit.rpc.calls import Calls, Outgoing
from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.results import FAILOVER, RETRY_SAME, InferResult, Request, failed, prepare, summarize, to_result


class StreamClient(Protocol):
    """The part of EdgeClient a stream run drives (named here because client.py imports this module)."""

    addresses: list[str]
    current: int
    retries: int
    backoff_s: float
    window: int
    stream_deadline_s: float | None
    max_message_bytes: int
    _metadata: tuple[tuple[str, str], ...]

    def _stub(self, i: int) -> Calls: ...

    def _fail_over(self, i: int) -> None: ...

    def _record(self, method: str, code: str, sent: int, resp: pb.InferResponse | None, seconds: float) -> None: ...


class _Stream:
    """One InferStream call: what it has sent and not yet had answered, in send order."""

    def __init__(self) -> None:
        self.pending: deque[tuple[int, Outgoing, float]] = deque()
        self.dead = False


class StreamRun:
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

    def __init__(self, client: StreamClient, requests: Iterable[Request]) -> None:
        self.client = client
        self.source = iter(requests)
        self.source_lock = threading.Lock()
        self.cond = threading.Condition()
        self.inbox: deque[tuple[int, Outgoing]] = deque()
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
            prepared = prepare(r, self.client.max_message_bytes)
            with self.cond:
                if isinstance(prepared, InferResult):
                    self.done[idx] = prepared
                else:
                    self.inbox.append((idx, prepared))
                    self.unresolved += 1
                self.cond.notify_all()

    def _send(self, stream: _Stream) -> Iterator[Outgoing]:
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
                        result = to_result(req, resp, address, t0, broken + 1)
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
                        self._resolve(idx, failed(req.request_id, code.name, detail, address=address))
                    elif code not in FAILOVER and code not in RETRY_SAME:
                        fatal = (code.name, f"{address}: {detail}")  # e.g. UNAUTHENTICATED: no point going on
                    else:
                        client._fail_over(i)
                        broken += 1
                    with self.cond:
                        self.inbox.extendleft((idx, req) for idx, req, _ in reversed(lost))
                        self.cond.notify_all()
                    if broken >= n + client.retries:
                        fatal = ("UNAVAILABLE", f"every server failed ({broken} tries): {summarize(errors)}")
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
                    self.done[idx] = failed(req.request_id, code, detail)
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
