"""What both ends of the Inference service share beyond the .proto: its name, the size unit, the metrics callback."""

from __future__ import annotations

from collections.abc import Callable

SERVICE = "edgesplit.v1.Inference"
HEALTH_METHOD = f"/{SERVICE}/Health"
MB = 1024 * 1024

# on_rpc(method, code, sent_bytes, received_bytes, seconds): the order of FleetMetrics.record_rpc, so that
# `on_rpc=metrics.record_rpc` works as is. Bytes are serialized message sizes as seen by this side.
RpcCallback = Callable[[str, str, int, int, float], None]
