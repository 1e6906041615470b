"""The gRPC face of an Inferencer: request parsing, the servicer and its method handlers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator

import grpc
from google.protobuf.message import DecodeError

from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.generated import edgesplit_pb2_grpc as pb_grpc
from edgesplit.rpc.inference import Inferencer, Malformed, RpcFailure
from edgesplit.rpc.service import SERVICE, RpcCallback
from edgesplit.rpc.tensors import parse_request

log = logging.getLogger(__name__)

# a parsed request, its size on the wire and its tensor's bytes (a view of the wire bytes; see parse_request)
Incoming = tuple[pb.InferRequest | Malformed, int, memoryview | None]


def _parse_request(data: bytes) -> Incoming:
    try:
        request, tensor_data = parse_request(data)
        return request, len(data), tensor_data
    except DecodeError as err:
        return Malformed(str(err)), len(data), None


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


def method_handlers(servicer: InferenceServicer) -> grpc.GenericRpcHandler:
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
