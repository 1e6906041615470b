"""Bearer-token authentication of the edge server's calls (Health stays open for probes)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from edgesplit.rpc.service import HEALTH_METHOD, RpcCallback

log = logging.getLogger(__name__)


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
