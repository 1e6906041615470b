"""Real tensors in the Ray engine's real-time mode: device shards run split-model heads and send the bottlenecks
over gRPC to the edge-server actors' inference servers (`edgesplit.rpc`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesplit.scenario import DnnSpec


def serve_models(spec: DnnSpec, name: str, port: int = 0) -> Any:
    """Start an inference server for the split models on this Ray node's address (`port` 0: any free one);
    returns the `EdgeServer`."""
    import ray

    from edgesplit.rpc.server import EdgeServer

    server = EdgeServer(spec.models, host=ray.util.get_node_ip_address(), port=port, workers=4, name=name)
    server.start()
    return server


class DeviceInference:
    """What a shard's devices compute for real: the head of every request, then the tail over gRPC on the server
    the policy chose (or on the device itself). Each request's prediction replaces the offline one in its job's
    meta, with `source` saying where it came from ("grpc", "device", or "grpc-failed" with `rpc_error`)."""

    def __init__(self, spec: DnnSpec, addresses: list[str | None]) -> None:
        from edgesplit.datasets import load_dataset
        from edgesplit.rpc.client import EdgeClient
        from edgesplit.rpc.models import load_head, load_tail
        from edgesplit.split.workload import read_split_model

        self.spec = spec
        self.model = read_split_model(spec.models, spec.model_id)
        self.head = load_head(self.model.directory)
        self._tail_loader = lambda: load_tail(self.model.directory)
        self._tail: Any = None
        self.images = load_dataset(spec.dataset).x_test
        # One client per server: the engine has already chosen the server, failover is the engine's business.
        self.clients = {s: EdgeClient([a], deadline_s=10.0, retries=1) for s, a in enumerate(addresses) if a}

    def _bottleneck(self, meta: dict[str, Any]) -> np.ndarray:
        return self.head(self.images[meta["image"]][None].astype(np.float32))

    def remote(self, meta: dict[str, Any], server: int, request_id: str, device: str) -> None:
        """Send the request's bottleneck to `server` and record its answer."""
        client = self.clients.get(server)
        if client is None:
            meta.update(prediction=None, correct=False, source="grpc-failed", rpc_error=f"server {server} has no RPC")
            return
        res = client.infer(
            self.model.model_id,
            self._bottleneck(meta),
            request_id=request_id,
            device_id=device,
            split_id=self.model.split_id,
            codec=self.spec.codec,
        )
        if res.ok:
            meta.update(prediction=res.prediction, correct=res.prediction == meta["label"], source="grpc")
        else:
            meta.update(prediction=None, correct=False, source="grpc-failed", rpc_error=f"{res.code}: {res.detail}")

    def local(self, meta: dict[str, Any]) -> None:
        """Run the tail on the device (no wire, so no codec)."""
        if self._tail is None:
            self._tail = self._tail_loader()
        pred = int(self._tail(self._bottleneck(meta)).argmax(axis=1)[0])
        meta.update(prediction=pred, correct=pred == meta["label"], source="device")

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
