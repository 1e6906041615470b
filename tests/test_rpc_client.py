"""The device client against real servers: failover mid-stream with every request accounted for, retries that
the server answers from its cache, local refusals, TLS with a bearer token."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import torch

from edgesplit.metrics import FleetMetrics
from edgesplit.rpc.client import EdgeClient
from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.models import TailModel
from edgesplit.rpc.results import InferResult, Request
from edgesplit.rpc.server import EdgeServer
from edgesplit.rpc.testing import self_signed_cert

torch.set_num_threads(1)
SHAPE = (4, 8, 8)


@pytest.fixture
def two_servers(model_dir: Path) -> Iterator[tuple[EdgeServer, EdgeServer]]:
    a, b = EdgeServer(model_dir, name="A"), EdgeServer(model_dir, name="B")
    a.start()
    b.start()
    yield a, b
    a.stop(0)
    b.stop(0)


def sample(i: int, n: int = 1) -> np.ndarray:
    return np.random.default_rng(i).random((n, *SHAPE), dtype=np.float32)


def requests(count: int, prefix: str = "r") -> Iterator[Request]:
    for i in range(count):
        yield Request("tiny", sample(i), request_id=f"{prefix}{i}", device_id="phone-1")


def test_unary_infer(two_servers: tuple[EdgeServer, EdgeServer], tail: TailModel) -> None:
    a, _ = two_servers
    metrics = FleetMetrics(process_metrics=False)
    with EdgeClient([a.address], on_rpc=metrics.record_rpc) as client:
        r = client.infer("tiny", sample(1, n=3), request_id="u1", device_id="phone-1")
        assert r.ok and r.code == "OK" and r.server_name == "A" and r.attempts == 1
        np.testing.assert_allclose(r.logits, tail(sample(1, n=3)), rtol=1e-5, atol=1e-6)
        assert r.predictions == tail(sample(1, n=3)).argmax(axis=1).tolist() and r.prediction == r.predictions[0]
        q8 = client.infer("tiny", sample(1, n=3), codec="q8")
        assert q8.ok and q8.request_id and q8.request_id != "u1"  # a fresh id when none is given
        bad = client.infer("tiny", np.zeros((1, 2), np.float32))
        assert not bad.ok and bad.code == "INVALID_ARGUMENT" and "takes shape" in bad.detail
        assert client.infer("nope", sample(1)).code == "NOT_FOUND"
        assert client.health().status == pb.HealthResponse.SERVING
    value = metrics.registry.get_sample_value
    assert value("edgesplit_rpc_requests_total", {"method": "Infer", "code": "OK"}) == 2
    assert value("edgesplit_rpc_requests_total", {"method": "Infer", "code": "INVALID_ARGUMENT"}) == 1


def test_local_refusals_are_results(two_servers: tuple[EdgeServer, EdgeServer]) -> None:
    a, _ = two_servers
    with EdgeClient([a.address], max_message_mb=0.01) as client:  # 10 kB
        big = client.infer("tiny", np.zeros((8, *SHAPE), np.float32))  # 8 kB of floats + framing: fits
        assert big.ok
        huge = client.infer("tiny", np.zeros((16, *SHAPE), np.float32))
        assert not huge.ok and huge.code == "RESOURCE_EXHAUSTED" and huge.detail.startswith("not sent")
        ints = client.infer("tiny", np.zeros((1, *SHAPE), np.int64))
        assert ints.code == "INVALID_ARGUMENT" and "not sent" in ints.detail
        items = [
            Request("tiny", sample(0)),
            Request("tiny", np.zeros((16, *SHAPE), np.float32)),
            Request("tiny", sample(1)),
        ]
        assert [r.code for r in client.infer_stream(items)] == ["OK", "RESOURCE_EXHAUSTED", "OK"]


def test_stream_in_order_with_per_message_errors(two_servers: tuple[EdgeServer, EdgeServer], tail: TailModel):
    a, _ = two_servers
    items = list(requests(30))
    items[7] = Request("tiny", np.zeros((1, 3, 8, 8), np.float32), request_id="bad-shape")
    items[20] = Request("missing", sample(0), request_id="bad-model")
    metrics = FleetMetrics(process_metrics=False)
    with EdgeClient([a.address], window=4, on_rpc=metrics.record_rpc) as client:
        results = list(client.infer_stream(items))
    assert [r.request_id for r in results] == [r.request_id for r in items]
    assert [r.code for r in results if not r.ok] == ["INVALID_ARGUMENT", "NOT_FOUND"]
    counts = {c: metrics.registry.get_sample_value("edgesplit_rpc_requests_total", {"method": "InferStream", "code": c})
              for c in ("OK", "INVALID_ARGUMENT", "NOT_FOUND")}  # fmt: skip
    assert counts == {"OK": 28, "INVALID_ARGUMENT": 1, "NOT_FOUND": 1}
    for i, r in enumerate(results):
        if r.ok:
            assert r.predictions == tail(sample(i)).argmax(axis=1).tolist()


def test_stream_message_over_the_server_limit(model_dir: Path) -> None:
    with EdgeServer(model_dir, echo=True, max_message_mb=1) as srv, EdgeClient([srv.address]) as client:
        items = [Request("_echo", np.ones((1, 1000), np.float32)) for _ in range(5)]
        items[2] = Request("_echo", np.ones((1, 600_000), np.float32))  # 2.4 MB: the server ends the stream
        results = list(client.infer_stream(items))
    assert [r.code for r in results] == ["OK", "OK", "RESOURCE_EXHAUSTED", "OK", "OK"]


def _check_accounting(items: list[Request], results: list[InferResult]) -> None:
    assert [r.request_id for r in results] == [r.request_id for r in items]  # one result each, in order
    for r in results:
        assert r.ok or (r.code and r.detail), r


def test_failover_mid_stream(two_servers: tuple[EdgeServer, EdgeServer], tail: TailModel) -> None:
    a, b = two_servers
    items = list(requests(80))
    results = []
    with EdgeClient([a.address, b.address], window=16) as client:
        for r in client.infer_stream(iter(items)):
            results.append(r)
            if len(results) == 20:
                a.stop(0)  # kill the server in use with requests in flight
    _check_accounting(items, results)
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    names = [r.server_name for r in results]
    assert names[:20] == ["A"] * 20 and names[-1] == "B" and set(names) == {"A", "B"}
    for i, r in enumerate(results):
        assert r.predictions == tail(sample(i)).argmax(axis=1).tolist()


def test_all_servers_down_mid_stream_fails_the_rest_with_a_reason(two_servers: tuple[EdgeServer, EdgeServer]):
    a, b = two_servers
    items = list(requests(60))
    results = []
    with EdgeClient([a.address, b.address], window=8, retries=1, backoff_s=0.01) as client:
        for r in client.infer_stream(iter(items)):
            results.append(r)
            if len(results) == 10:
                a.stop(0)
                b.stop(0)
    _check_accounting(items, results)
    assert all(r.ok for r in results[:10])
    failed = [r for r in results if not r.ok]
    assert failed and all(r.code == "UNAVAILABLE" and "every server failed" in r.detail for r in failed)
    assert a.address in failed[0].detail and b.address in failed[0].detail


def test_unary_failover_and_all_down(two_servers: tuple[EdgeServer, EdgeServer]) -> None:
    a, b = two_servers
    a.stop(0)
    with EdgeClient([a.address, b.address], backoff_s=0.01) as client:
        r = client.infer("tiny", sample(0), request_id="f1")
        assert r.ok and r.server_name == "B" and r.attempts == 2 and r.address == b.address
        assert client.infer("tiny", sample(0)).attempts == 1  # it stays on B
        b.stop(0)
        down = client.infer("tiny", sample(0), request_id="f2")
    assert not down.ok and down.code == "UNAVAILABLE" and down.request_id == "f2"
    assert "gave up after 4 attempts" in down.detail and a.address in down.detail and b.address in down.detail


class _LoseFirstAnswer(grpc.ServerInterceptor):
    """Computes the first Infer, then fails it with UNAVAILABLE as if the answer were lost on the way."""

    def __init__(self) -> None:
        self.lost = 0

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = continuation(details)
        if handler is None or not details.method.endswith("/Infer"):
            return handler

        def behaviour(request: Any, context: grpc.ServicerContext) -> Any:
            resp = handler.unary_unary(request, context)
            if self.lost == 0:
                self.lost += 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "answer lost (injected)")
            return resp

        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def test_retry_is_answered_from_the_cache(model_dir: Path) -> None:
    lose = _LoseFirstAnswer()
    with EdgeServer(model_dir, interceptors=[lose]) as srv, EdgeClient([srv.address], backoff_s=0.01) as client:
        r = client.infer("tiny", sample(3), request_id="once")
        stats = dict(srv.inferencer.stats)
    assert lose.lost == 1 and r.ok and r.attempts == 2
    assert stats["computed"] == 1 and stats["cache_hits"] == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command makes the test certificate")
def test_tls_and_token(model_dir: Path, tmp_path: Path, tail: TailModel) -> None:
    cert, key = self_signed_cert(tmp_path)
    with EdgeServer(model_dir, tls_cert=cert, tls_key=key, token="s3cret") as srv:
        with EdgeClient([srv.address], root_cert=cert, token="s3cret") as client:
            r = client.infer("tiny", sample(0), request_id="t1")
            assert r.ok and r.predictions == tail(sample(0)).argmax(axis=1).tolist()
            assert all(x.ok for x in client.infer_stream(requests(5)))
        with EdgeClient([srv.address], root_cert=cert, token="wrong") as client:
            r = client.infer("tiny", sample(0))
            assert not r.ok and r.code == "UNAUTHENTICATED" and r.attempts == 1
            streamed = list(client.infer_stream(requests(5)))
            assert len(streamed) == 5 and all(x.code == "UNAUTHENTICATED" for x in streamed)
            assert client.health().status == pb.HealthResponse.SERVING  # health needs no token
        with EdgeClient([srv.address], root_cert=cert) as client:
            r = client.infer("tiny", sample(0))
            assert r.code == "UNAUTHENTICATED" and "missing bearer token" in r.detail
        with EdgeClient([srv.address], retries=0, deadline_s=5) as plaintext:
            assert plaintext.infer("tiny", sample(0)).code == "UNAVAILABLE"  # no TLS: no connection
        with EdgeClient([srv.address], root_cert=cert, token="s3cret") as client:
            assert client.infer("tiny", sample(0)).ok  # still serving after all that


def test_token_without_tls(model_dir: Path) -> None:
    with EdgeServer(model_dir, token="t") as srv:
        with EdgeClient([srv.address], token="t") as ok, EdgeClient([srv.address], token="x") as bad:
            assert ok.infer("tiny", sample(0)).ok
            assert bad.infer("tiny", sample(0)).code == "UNAUTHENTICATED"
