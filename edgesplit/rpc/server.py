"""The edge inference server: runs split-model tails on tensors sent by devices over gRPC.

For throughput, `EdgeServer.start` keeps glibc from handing the memory of large messages back to the kernel after
every message (`tune_allocator`; docs/rpc.md, "Performance", has the measurements).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hmac
import logging
import queue
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf.message import DecodeError

from edgesplit.errors import UserError
from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.generated import edgesplit_pb2_grpc as pb_grpc
from edgesplit.rpc.models import EchoModel, TailModel, load_model_dir
from edgesplit.rpc.tensors import TensorError, decode, parse_request

log = logging.getLogger(__name__)

SERVICE = "edgesplit.v1.Inference"
HEALTH_METHOD = f"/{SERVICE}/Health"
MB = 1024 * 1024

# glibc malloc thresholds set by tune_allocator: freed blocks up to this size stay in the process for reuse.
ALLOCATOR_KEEP_BYTES = 32 * MB
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)
_allocator_tuned: bool | None = None

# on_rpc(method, code, sent_bytes, received_bytes, seconds): the order of FleetMetrics.record_rpc, so that
# `on_rpc=metrics.record_rpc` works as is. Bytes are serialized message sizes as seen by this side.
RpcCallback = Callable[[str, str, int, int, float], None]


def tune_allocator(keep_bytes: int = ALLOCATOR_KEEP_BYTES) -> bool:
    """Let this process reuse the memory of large messages instead of faulting fresh pages in for each one.

    gRPC's Python layer copies every received message into new buffers (two copies of the payload). With
    glibc's defaults a freed block of a megabyte or more goes back to the kernel (heap trimming above a dynamic
    threshold, or a separate mmap), so the next message's buffers are page-faulted and zeroed again: at 1 MB
    per message that was about a third of the server's CPU time. Setting M_TRIM_THRESHOLD and M_MMAP_THRESHOLD
    to `keep_bytes` makes glibc keep and reuse them (the same as the MALLOC_TRIM_THRESHOLD_ and
    MALLOC_MMAP_THRESHOLD_ environment variables). The cost: up to `keep_bytes` of freed memory per malloc
    arena stays mapped. Process-wide and once per process (later calls keep the first call's setting); returns
    whether it is in effect (False where the C library is not glibc's or has no mallopt).
    """
    global _allocator_tuned
    if _allocator_tuned is None:
        _allocator_tuned = False
        name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
        try:
            mallopt = ctypes.CDLL(name).mallopt if name else None
        except (OSError, AttributeError):
            mallopt = None
        if mallopt is not None:
            # glibc answers 1 when it takes a value (old versions refuse an mmap threshold over 32 MiB)
            trim = mallopt(_M_TRIM_THRESHOLD, keep_bytes)
            mmap = mallopt(_M_MMAP_THRESHOLD, keep_bytes)
            _allocator_tuned = trim == 1 and mmap == 1
        if not _allocator_tuned:
            log.debug("malloc tuning not available here; large messages cost more CPU")
    return _allocator_tuned


class RpcFailure(Exception):
    """An answer that is an error: a gRPC status code and a detail for the caller."""

    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class Malformed:
    """A request whose bytes are not an InferRequest (parsed leniently so a stream survives it)."""

    def __init__(self, error: str) -> None:
        self.error = error
        self.request_id = ""


# a parsed request, its size on the wire and its tensor's bytes (a view of the wire bytes; see parse_request)
Incoming = tuple[pb.InferRequest | Malformed, int, memoryview | None]


def _parse_request(data: bytes) -> Incoming:
    try:
        request, tensor_data = parse_request(data)
        return request, len(data), tensor_data
    except DecodeError as err:
        return Malformed(str(err)), len(data), None


class _AnswerCache:
    """LRU of request key -> Future of its response; a duplicate waits for (or reuses) the first answer."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str, str], futures.Future] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, key: tuple[str, str, str]) -> tuple[futures.Future, bool]:
        """(future, True) when the caller must compute the answer, (existing future, False) otherwise."""
        with self._lock:
            fut = self._entries.get(key)
            if fut is not None:
                self._entries.move_to_end(key)
                return fut, False
            fut = futures.Future()
            self._entries[key] = fut
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return fut, True

    def forget(self, key: tuple[str, str, str], fut: futures.Future) -> None:
        with self._lock:
            if self._entries.get(key) is fut:
                del self._entries[key]


class MicroBatcher:
    """Runs one model on requests that arrive within `wait_s` of the first, up to `batch_max` requests a batch."""

    def __init__(self, model: TailModel | EchoModel, batch_max: int, wait_s: float, stats: Callable[[int], None]):
        self.model = model
        self.batch_max = batch_max
        self.wait_s = wait_s
        self._stats = stats
        self._queue: queue.SimpleQueue[tuple[np.ndarray, futures.Future] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"batch-{model.model_id}", daemon=True)
        self._thread.start()

    def submit(self, x: np.ndarray) -> futures.Future:
        fut: futures.Future = futures.Future()
        self._queue.put((x, fut))
        return fut

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            until = time.monotonic() + self.wait_s
            while len(batch) < self.batch_max:
                try:
                    item = self._queue.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._run(batch)

    def _run(self, batch: list[tuple[np.ndarray, futures.Future]]) -> None:
        try:
            xs = batch[0][0] if len(batch) == 1 else np.concatenate([x for x, _ in batch])
            logits = self.model(xs)
        except Exception as err:  # the callers turn it into INTERNAL
            for _, fut in batch:
                fut.set_exception(err)
            return
        self._stats(len(batch))
        start = 0
        for x, fut in batch:
            fut.set_result(logits[start : start + len(x)])
            start += len(x)


class Inferencer:
    """Owns the models, their micro-batchers, the answer cache and the serving state; knows nothing of gRPC I/O.

    `infer` returns a response or raises RpcFailure; the servicer decides how an error travels.
    """

    def __init__(
        self,
        models: Mapping[str, TailModel | EchoModel],
        *,
        name: str = "edge",
        batch_max: int = 1,
        batch_wait_s: float = 0.0,
        cache_size: int = 1024,
    ) -> None:
        self.models = dict(models)
        self.name = name
        self.serving = False
        self._cache = _AnswerCache(cache_size) if cache_size > 0 else None
        self._lock = threading.Lock()
        self.stats = {"computed": 0, "cache_hits": 0, "batches": 0, "max_batch": 0, "errors": 0}
        self._batchers = (
            {mid: MicroBatcher(m, batch_max, batch_wait_s, self._count_batch) for mid, m in self.models.items()}
            if batch_max > 1
            else {}
        )

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def _count_batch(self, size: int) -> None:
        with self._lock:
            self.stats["batches"] += 1
            self.stats["max_batch"] = max(self.stats["max_batch"], size)

    def close(self) -> None:
        self.serving = False
        for b in self._batchers.values():
            b.close()

    def health(self) -> pb.HealthResponse:
        status = pb.HealthResponse.SERVING if self.serving and self.models else pb.HealthResponse.NOT_SERVING
        return pb.HealthResponse(status=status, server_name=self.name, model_ids=sorted(self.models))

    def infer(self, req: pb.InferRequest | Malformed, data: memoryview | None = None) -> pb.InferResponse:
        """The answer to one request (from the cache when its request_id was answered before).

        `data`, when given, stands for `req.tensor.data` (see tensors.parse_request).
        """
        try:
            return self._infer(req, data)
        except RpcFailure:
            self._count("errors")
            raise
        except Exception as err:  # a bug here must not end a stream or leave the caller with UNKNOWN
            log.exception("request %r failed", getattr(req, "request_id", ""))
            self._count("errors")
            raise RpcFailure(grpc.StatusCode.INTERNAL, f"server error: {type(err).__name__}: {err}") from None

    def _infer(self, req: pb.InferRequest | Malformed, data: memoryview | None) -> pb.InferResponse:
        if isinstance(req, Malformed):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"request is not an InferRequest message: {req.error}")
        model = self.models.get(req.model_id)
        if model is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"unknown model {req.model_id!r} (serving: {known})")
        if req.split_id and req.split_id != model.split_id:
            raise RpcFailure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"split_id {req.split_id!r} does not match model {model.model_id!r} (split {model.split_id!r})",
            )
        if self._cache is None or not req.request_id:
            return self._compute(model, req, data)
        key = (req.device_id, req.model_id, req.request_id)
        fut, mine = self._cache.claim(key)
        if not mine:
            self._count("cache_hits")
            return fut.result()  # re-raises the first attempt's RpcFailure, if it failed
        try:
            resp = self._compute(model, req, data)
        except BaseException as err:
            self._cache.forget(key, fut)  # only answers are remembered; a failure may be retried
            fut.set_exception(err)
            raise
        fut.set_result(resp)
        return resp

    def _compute(self, model: TailModel | EchoModel, req: pb.InferRequest, data: memoryview | None) -> pb.InferResponse:
        t0 = time.perf_counter()
        if not req.HasField("tensor"):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "request has no tensor")
        try:
            x = decode(req.tensor, data)
        except TensorError as err:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, str(err)) from None
        if req.tensor.dtype != model.input_dtype:
            raise RpcFailure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"model {model.model_id!r} takes {model.input_dtype}, got {req.tensor.dtype}",
            )
        want = model.input_shape
        if x.ndim < 1 or (want is not None and x.shape[1:] != want):
            expected = f"[N, {', '.join(map(str, want))}]" if want is not None else "[N, ...]"
            raise RpcFailure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"model {model.model_id!r} takes shape {expected}, got {list(x.shape)}",
            )
        if x.size == 0:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"empty tensor (shape {list(x.shape)})")
        try:
            batcher = self._batchers.get(model.model_id)
            logits = batcher.submit(x).result() if batcher else model(x)
        except Exception as err:
            log.exception("model %s failed", model.model_id)
            raise RpcFailure(grpc.StatusCode.INTERNAL, f"model {model.model_id!r} failed: {err}") from None
        self._count("computed")
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        preds = logits.argmax(axis=1).astype(np.int32) if logits.size else np.zeros(len(logits), np.int32)
        return pb.InferResponse(
            request_id=req.request_id,
            logits=pb.Tensor(dtype="float32", shape=logits.shape, codec=pb.RAW, data=logits.tobytes()),
            prediction=int(preds[0]),
            predictions=preds.tolist(),
            server_compute_s=time.perf_counter() - t0,
            server_name=self.name,
        )


class InferenceServicer(pb_grpc.InferenceServicer):
    """The gRPC face of an Inferencer: unary errors become statuses, stream errors become per-message statuses."""

    def __init__(self, inferencer: Inferencer, on_rpc: RpcCallback | None = None) -> None:
        self.inferencer = inferencer
        self.on_rpc = on_rpc

    def _record(self, method: str, code: grpc.StatusCode, resp: pb.InferResponse | None, received: int, t0: float):
        if self.on_rpc is not None:
            try:
                sent = resp.ByteSize() if resp is not None else 0  # ByteSize serializes: only when recorded
                self.on_rpc(method, code.name, sent, received, time.perf_counter() - t0)
            except Exception:  # metrics must never fail an RPC
                log.exception("on_rpc callback failed")

    def Infer(self, incoming: Incoming, context: grpc.ServicerContext) -> pb.InferResponse:
        t0 = time.perf_counter()
        request, size, data = incoming
        try:
            resp = self.inferencer.infer(request, data)
        except RpcFailure as failure:
            self._record("Infer", failure.code, None, size, t0)
            context.abort(failure.code, failure.detail)
        self._record("Infer", grpc.StatusCode.OK, resp, size, t0)
        return resp

    def InferStream(self, incoming: Iterable[Incoming], context: grpc.ServicerContext) -> Iterator[pb.InferResponse]:
        # In order, one at a time: a stream is a sequence; open several streams for parallelism.
        for request, size, data in incoming:
            t0 = time.perf_counter()
            try:
                resp = self.inferencer.infer(request, data)
                code = grpc.StatusCode.OK
            except RpcFailure as failure:
                code = failure.code
                resp = pb.InferResponse(
                    request_id=request.request_id,
                    server_name=self.inferencer.name,
                    status=pb.Status(code=failure.code.value[0], detail=failure.detail),
                )
            self._record("InferStream", code, resp, size, t0)
            yield resp

    def Health(self, request: pb.HealthRequest, context: grpc.ServicerContext) -> pb.HealthResponse:
        return self.inferencer.health()


def _method_handlers(servicer: InferenceServicer) -> grpc.GenericRpcHandler:
    """Like the generated add_InferenceServicer_to_server, but bad request bytes reach the servicer."""
    serialize = pb.InferResponse.SerializeToString
    handlers = {
        "Infer": grpc.unary_unary_rpc_method_handler(
            servicer.Infer, request_deserializer=_parse_request, response_serializer=serialize
        ),
        "InferStream": grpc.stream_stream_rpc_method_handler(
            servicer.InferStream, request_deserializer=_parse_request, response_serializer=serialize
        ),
        "Health": grpc.unary_unary_rpc_method_handler(
            servicer.Health,
            request_deserializer=pb.HealthRequest.FromString,
            response_serializer=pb.HealthResponse.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


class TokenInterceptor(grpc.ServerInterceptor):
    """Refuses every call but Health without `authorization: Bearer <token>` metadata (UNAUTHENTICATED)."""

    def __init__(self, token: str, on_rpc: RpcCallback | None = None) -> None:
        self._expected = f"Bearer {token}".encode()
        self.on_rpc = on_rpc

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None], details: Any
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None or details.method == HEALTH_METHOD:
            return handler
        given = next((v for k, v in details.invocation_metadata or () if k == "authorization"), None)
        if given is not None and hmac.compare_digest(str(given).encode(), self._expected):
            return handler
        detail = "missing bearer token (metadata authorization: Bearer <token>)" if given is None else "wrong token"
        if self.on_rpc is not None:
            try:
                self.on_rpc(details.method.rsplit("/", 1)[-1], grpc.StatusCode.UNAUTHENTICATED.name, 0, 0, 0.0)
            except Exception:  # metrics must never fail an RPC
                log.exception("on_rpc callback failed")
        return _refusal(handler, detail)


def _refusal(handler: grpc.RpcMethodHandler, detail: str) -> grpc.RpcMethodHandler:
    def refuse(_request: Any, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, detail)

    def refuse_stream(_request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, detail)
        yield  # unreachable: abort raises; makes this a generator as streaming handlers must be

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    streaming = handler.response_streaming
    return kinds[(handler.request_streaming, streaming)](refuse_stream if streaming else refuse)


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
            handlers=[_method_handlers(InferenceServicer(self.inferencer, self._on_rpc))],
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
