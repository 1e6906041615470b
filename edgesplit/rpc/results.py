"""A device's requests and their outcomes: what to send, what an answer means, which failures to try again."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import grpc
import numpy as np

from edgesplit.rpc.calls import Outgoing
from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.tensors import TensorError, decode, encode_request

# Codes after which another attempt may succeed. UNAVAILABLE (and a broken stream) moves to the next server;
# DEADLINE_EXCEEDED tries the same one again (its answer may be cached there by then).
FAILOVER = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
RETRY_SAME = {grpc.StatusCode.DEADLINE_EXCEEDED}
_CODE_NAMES = {c.value[0]: c.name for c in grpc.StatusCode}


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


def summarize(errors: list[str]) -> str:
    """Distinct errors in order of first appearance, repeats counted: "a; b (x2)"."""
    counts: dict[str, int] = {}
    for e in errors:
        counts[e] = counts.get(e, 0) + 1
    return "; ".join(e if n == 1 else f"{e} (x{n})" for e, n in counts.items())


def failed(request_id: str, code: str, detail: str, **kw: object) -> InferResult:
    """A failed InferResult (`kw`: its other fields)."""
    return InferResult(request_id=request_id, ok=False, code=code, detail=detail, **kw)  # type: ignore[arg-type]


def prepare(r: Request, max_message_bytes: int) -> Outgoing | InferResult:
    """The bytes to send for `r`, or a failed result when it cannot be sent (bad array, over the size limit)."""
    rid = r.request_id or uuid.uuid4().hex
    try:
        payload = encode_request(
            r.x, model_id=r.model_id, request_id=rid, device_id=r.device_id, split_id=r.split_id, codec=r.codec
        )
    except ValueError as err:
        return failed(rid, "INVALID_ARGUMENT", f"not sent: {err}")
    size = len(payload)
    if size > max_message_bytes:
        # gRPC would fail the call (and a whole stream) for it; refuse this one request instead.
        return failed(rid, "RESOURCE_EXHAUSTED", f"not sent: {size} bytes is over the limit of {max_message_bytes}")
    return Outgoing(rid, payload)


def to_result(req: Outgoing, resp: pb.InferResponse, address: str, t0: float, attempts: int) -> InferResult:
    """The InferResult of an answer (a stream message's own status decides ok or not)."""
    latency = time.perf_counter() - t0
    code = "OK" if resp.status.code == 0 else _CODE_NAMES.get(resp.status.code, str(resp.status.code))
    if code != "OK":
        return failed(
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
        return failed(req.request_id, "DATA_LOSS", f"bad logits in the answer: {err}", address=address)
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
