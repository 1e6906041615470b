"""The server's inference core: checks a request, runs its model (batched, cached) and builds the answer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

import grpc
import numpy as np

from edgesplit.rpc.batching import MicroBatcher
from edgesplit.rpc.cache import AnswerCache
from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.models import EchoModel, TailModel
from edgesplit.rpc.tensors import TensorError, decode

log = logging.getLogger(__name__)


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
        self._cache = AnswerCache(cache_size) if cache_size > 0 else None
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
