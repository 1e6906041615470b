"""The edge server over real gRPC channels: a status code for every bad input, the stream error rule, the answer
cache, micro-batching, health, metrics, model directories and the tensor codecs."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch

from edgesplit.errors import UserError
from edgesplit.metrics import FleetMetrics
from edgesplit.rpc.codec import dequantize_u8, quantize_u8
from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.generated import edgesplit_pb2_grpc as pb_grpc
from edgesplit.rpc.models import TailModel, load_head, load_model_dir
from edgesplit.rpc.server import EdgeServer
from edgesplit.rpc.tensors import TensorError, decode, encode
from edgesplit.rpc.testing import make_model_dir

torch.set_num_threads(1)
SHAPE = (4, 8, 8)  # the tiny model's bottleneck
LIMIT_MB = 1


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[EdgeServer]:
    srv = EdgeServer(model_dir, echo=True, max_message_mb=LIMIT_MB, workers=4)
    srv.start()
    yield srv
    srv.stop(0)


@pytest.fixture(scope="module")
def channel(server: EdgeServer) -> Iterator[grpc.Channel]:
    big = 16 * 1024 * 1024  # above the server's limit, so the server's own check is what refuses
    ch = grpc.insecure_channel(
        server.address, options=[("grpc.max_send_message_length", big), ("grpc.max_receive_message_length", big)]
    )
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> pb_grpc.InferenceStub:
    return pb_grpc.InferenceStub(channel)


def sample(n: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *SHAPE), dtype=np.float32)


def request(x: np.ndarray | None = None, **fields: object) -> pb.InferRequest:
    x = sample() if x is None else x
    req = pb.InferRequest(request_id="", device_id="d0", model_id="tiny", tensor=encode(x))
    for key, value in fields.items():
        setattr(req, key, value)
    return req


def assert_answers_correctly(stub: pb_grpc.InferenceStub, tail: TailModel) -> None:
    x = sample(3, seed=42)
    resp = stub.Infer(request(x), timeout=10)
    np.testing.assert_allclose(decode(resp.logits), tail(x), rtol=1e-5, atol=1e-6)
    assert list(resp.predictions) == tail(x).argmax(axis=1).tolist() and resp.prediction == resp.predictions[0]


def test_valid_request(stub: pb_grpc.InferenceStub, tail: TailModel, server: EdgeServer) -> None:
    assert_answers_correctly(stub, tail)
    resp = stub.Infer(request(), timeout=10)
    assert resp.server_name == server.inferencer.name and resp.server_compute_s > 0
    assert resp.logits.dtype == "float32" and list(resp.logits.shape) == [2, 10]


def _mutate_tensor(fn: Callable[[pb.Tensor], None]) -> Callable[[pb.InferRequest], None]:
    return lambda req: fn(req.tensor)


def _set(obj_attr: str, value: object) -> Callable[[pb.Tensor], None]:
    return lambda t: setattr(t, obj_attr, value)


def _shape(shape: list[int]) -> Callable[[pb.Tensor], None]:
    def apply(t: pb.Tensor) -> None:
        del t.shape[:]
        t.shape.extend(shape)

    return apply


BAD = {
    "unknown model": (lambda r: setattr(r, "model_id", "resnet-nope"), grpc.StatusCode.NOT_FOUND, "unknown model"),
    "wrong channels": (
        lambda r: r.tensor.CopyFrom(encode(np.zeros((2, 3, 8, 8), np.float32))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "takes shape [N, 4, 8, 8]",
    ),
    "no batch dim": (
        lambda r: r.tensor.CopyFrom(encode(np.zeros(SHAPE, np.float32))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "takes shape",
    ),
    "empty batch": (
        lambda r: r.tensor.CopyFrom(encode(np.zeros((0, *SHAPE), np.float32))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "empty tensor",
    ),
    "float64": (
        lambda r: r.tensor.CopyFrom(encode(np.zeros((1, *SHAPE), np.float64))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "takes float32, got float64",
    ),
    "unknown dtype": (_mutate_tensor(_set("dtype", "int128")), grpc.StatusCode.INVALID_ARGUMENT, "unsupported dtype"),
    "short data": (
        _mutate_tensor(lambda t: setattr(t, "data", t.data[:-3])),
        grpc.StatusCode.INVALID_ARGUMENT,
        "needs 2048",
    ),
    "long data": (
        _mutate_tensor(lambda t: setattr(t, "data", t.data + b"\0")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "data is 2049 bytes",
    ),
    "negative dim": (_mutate_tensor(_shape([-2, 4, 8, 8])), grpc.StatusCode.INVALID_ARGUMENT, "out of range"),
    "huge dim": (_mutate_tensor(_shape([2**40, 4, 8, 8])), grpc.StatusCode.INVALID_ARGUMENT, "out of range"),
    "no tensor": (lambda r: r.ClearField("tensor"), grpc.StatusCode.INVALID_ARGUMENT, "no tensor"),
    "wrong split": (lambda r: setattr(r, "split_id", "s9"), grpc.StatusCode.INVALID_ARGUMENT, "split_id 's9'"),
    "q8 zero scale": (
        lambda r: r.tensor.CopyFrom(
            pb.Tensor(dtype="float32", shape=[1, *SHAPE], codec=pb.Q8_AFFINE, scale=0.0, data=bytes(256))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "scale",
    ),
    "q8 zero point": (
        lambda r: r.tensor.CopyFrom(
            pb.Tensor(
                dtype="float32", shape=[1, *SHAPE], codec=pb.Q8_AFFINE, scale=0.1, zero_point=300, data=bytes(256)
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "zero_point",
    ),
    "unknown codec": (_mutate_tensor(_set("codec", 7)), grpc.StatusCode.INVALID_ARGUMENT, "unknown codec"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_its_status_and_server_keeps_serving(
    case: str, stub: pb_grpc.InferenceStub, tail: TailModel
) -> None:
    mutate, code, words = BAD[case]
    req = request()
    mutate(req)
    with pytest.raises(grpc.RpcError) as err:
        stub.Infer(req, timeout=10)
    assert err.value.code() == code, err.value.details()
    assert words in err.value.details()
    assert_answers_correctly(stub, tail)


def test_garbage_bytes_are_invalid_argument(channel: grpc.Channel, stub: pb_grpc.InferenceStub, tail: TailModel):
    raw = channel.unary_unary("/edgesplit.v1.Inference/Infer")  # no serializers: bytes on the wire as given
    with pytest.raises(grpc.RpcError) as err:
        raw(b"\xff\xff\xff\xff garbage", timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not an InferRequest" in err.value.details()
    assert_answers_correctly(stub, tail)


def test_oversized_message_is_resource_exhausted(stub: pb_grpc.InferenceStub, tail: TailModel) -> None:
    x = np.zeros((1, 2 * LIMIT_MB * 1024 * 1024 // 4), np.float32)  # 2 MB to the echo model, over the 1 MB limit
    with pytest.raises(grpc.RpcError) as err:
        stub.Infer(request(x, model_id="_echo"), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_answers_correctly(stub, tail)


def test_echo_model_returns_sizes_without_compute(stub: pb_grpc.InferenceStub) -> None:
    resp = stub.Infer(request(np.ones((3, 5, 7), np.float32), model_id="_echo"), timeout=10)
    assert decode(resp.logits).ravel().tolist() == [35.0, 35.0, 35.0]


def test_stream_errors_are_per_message(channel: grpc.Channel, tail: TailModel) -> None:
    good = request(sample(1, seed=1), request_id="r0").SerializeToString()
    msgs = [
        good,
        request(np.zeros((1, 2, 8, 8), np.float32), request_id="r1").SerializeToString(),
        b"\xff\xfe not a message",
        request(request_id="r3", model_id="nope").SerializeToString(),
        request(sample(1, seed=1), request_id="r4").SerializeToString(),
    ]
    call = channel.stream_stream(
        "/edgesplit.v1.Inference/InferStream", response_deserializer=pb.InferResponse.FromString
    )
    answers = list(call(iter(msgs), timeout=10))
    assert [a.status.code for a in answers] == [0, grpc.StatusCode.INVALID_ARGUMENT.value[0], 3, 5, 0]
    assert [a.request_id for a in answers] == ["r0", "r1", "", "r3", "r4"]
    assert "takes shape" in answers[1].status.detail and "unknown model" in answers[3].status.detail
    assert not answers[1].HasField("logits")
    np.testing.assert_allclose(decode(answers[4].logits), tail(sample(1, seed=1)), rtol=1e-5, atol=1e-6)


def test_repeated_request_id_is_answered_from_the_cache(stub: pb_grpc.InferenceStub, server: EdgeServer) -> None:
    stats = server.inferencer.stats
    before = dict(stats)
    first = stub.Infer(request(request_id="same"), timeout=10)
    second = stub.Infer(request(request_id="same"), timeout=10)
    assert first.SerializeToString() == second.SerializeToString()
    assert (stats["computed"] - before["computed"], stats["cache_hits"] - before["cache_hits"]) == (1, 1)

    # concurrent duplicates: one computes, the others wait for its answer
    before = dict(stats)
    answers: list[bytes] = []
    barrier = threading.Barrier(4)

    def call() -> None:
        barrier.wait()
        answers.append(stub.Infer(request(request_id="dup-concurrent"), timeout=10).SerializeToString())

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 4 and len(set(answers)) == 1
    assert (stats["computed"] - before["computed"], stats["cache_hits"] - before["cache_hits"]) == (1, 3)

    # a failed request is not remembered: the same id with a good tensor is computed
    with pytest.raises(grpc.RpcError):
        stub.Infer(request(np.zeros((1, 1), np.float32), request_id="fails-first"), timeout=10)
    assert stub.Infer(request(request_id="fails-first"), timeout=10).predictions


def test_micro_batching_matches_one_by_one(model_dir: Path, tail: TailModel) -> None:
    # A long wait so that the batch fills up whatever the machine's load; it closes as soon as 4 are in.
    with EdgeServer(model_dir, batch_max=4, batch_wait_ms=3000, workers=8) as srv:
        with grpc.insecure_channel(srv.address) as ch:
            stub = pb_grpc.InferenceStub(ch)
            results: dict[int, pb.InferResponse] = {}
            barrier = threading.Barrier(4)

            def call(i: int) -> None:
                barrier.wait()
                results[i] = stub.Infer(request(sample(i + 1, seed=i)), timeout=30)

            threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        stats = srv.inferencer.stats
    assert stats["computed"] == 4 and stats["max_batch"] >= 2 and stats["batches"] < 4
    for i, resp in results.items():
        np.testing.assert_allclose(decode(resp.logits), tail(sample(i + 1, seed=i)), rtol=1e-4, atol=1e-5)


def test_health(stub: pb_grpc.InferenceStub, model_dir: Path) -> None:
    h = stub.Health(pb.HealthRequest(), timeout=10)
    assert h.status == pb.HealthResponse.SERVING and list(h.model_ids) == ["_echo", "tiny"]
    srv = EdgeServer(model_dir)
    srv.start()
    srv.stop(0)
    assert srv.inferencer.health().status == pb.HealthResponse.NOT_SERVING
    empty = EdgeServer({})
    empty.start()
    try:
        with grpc.insecure_channel(empty.address) as ch:
            h = pb_grpc.InferenceStub(ch).Health(pb.HealthRequest(), timeout=10)
        assert h.status == pb.HealthResponse.NOT_SERVING
    finally:
        empty.stop(0)


def test_metrics_callback_is_fleet_metrics_record_rpc(model_dir: Path) -> None:
    metrics = FleetMetrics(process_metrics=False)
    with EdgeServer(model_dir, on_rpc=metrics.record_rpc) as srv, grpc.insecure_channel(srv.address) as ch:
        stub = pb_grpc.InferenceStub(ch)
        ok = stub.Infer(request(), timeout=10)
        with pytest.raises(grpc.RpcError):
            stub.Infer(request(model_id="nope"), timeout=10)
    value = metrics.registry.get_sample_value
    assert value("edgesplit_rpc_requests_total", {"method": "Infer", "code": "OK"}) == 1
    assert value("edgesplit_rpc_requests_total", {"method": "Infer", "code": "NOT_FOUND"}) == 1
    assert value("edgesplit_rpc_bytes_total", {"method": "Infer", "direction": "sent"}) == ok.ByteSize()
    assert value("edgesplit_rpc_bytes_total", {"method": "Infer", "direction": "received"}) == 2 * request().ByteSize()
    assert value("edgesplit_rpc_latency_seconds_count", {"method": "Infer"}) == 2


def test_model_dir_loading(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="models directory not found"):
        load_model_dir(tmp_path / "missing")
    with pytest.raises(UserError, match="no models found"):
        load_model_dir(tmp_path)
    sub = make_model_dir(tmp_path, "m1", num_classes=3)
    models = load_model_dir(tmp_path)
    assert list(models) == ["m1"] and models["m1"].input_shape == (4, 8, 8) and models["m1"].num_classes == 3
    head = load_head(sub)
    images = np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32)
    assert models["m1"](head(images)).shape == (2, 3)

    meta = json.loads((sub / "meta.json").read_text())
    (sub / "meta.json").write_text(json.dumps({**meta, "model_id": "other"}))
    with pytest.raises(UserError, match="differs from its directory name"):
        load_model_dir(tmp_path)
    (sub / "meta.json").write_text(json.dumps({**meta, "input_shape": [4, 0]}))
    with pytest.raises(UserError, match="input_shape"):
        load_model_dir(tmp_path)
    (sub / "meta.json").write_text(json.dumps(meta))
    (sub / "tail.onnx").write_bytes(b"not a model")
    with pytest.raises(UserError, match="not an ONNX model"):
        load_model_dir(tmp_path)
    (sub / "head.onnx").rename(sub / "head.pt")  # a model directory from before ONNX
    with pytest.raises(UserError, match="head.onnx is missing.*TorchScript"):
        load_head(sub)


@pytest.mark.parametrize("shape", [(1,), (2, 3), (4, 8, 8, 3), (0, 5), (7, 1, 1)])
def test_codec_round_trip(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    assert np.array_equal(decode(encode(x)), x)
    t = encode(x, "q8")
    assert len(t.data) == x.size and t.codec == pb.Q8_AFFINE
    y = decode(pb.Tensor.FromString(t.SerializeToString()))
    q, scale, zp = quantize_u8(x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.all(np.abs(y - x) <= scale / 2 + 1e-6)
    assert np.array_equal(y, dequantize_u8(q, scale, zp))
    relu = np.maximum(x, 0)
    assert np.all(decode(encode(relu, "q8"))[relu == 0] == 0)  # zeros stay exact
    with pytest.raises(TensorError):
        decode(pb.Tensor(dtype="float32", shape=list(shape), data=x.tobytes() + b"\0"))
    with pytest.raises(ValueError):
        encode(x.astype(np.int64))


def test_q8_through_the_server_keeps_predictions(stub: pb_grpc.InferenceStub, tail: TailModel) -> None:
    x = sample(16, seed=5)
    req = request(x)
    req.tensor.CopyFrom(encode(x, "q8"))
    resp = stub.Infer(req, timeout=10)
    ref = tail(x)
    got = decode(resp.logits)
    assert np.max(np.abs(got - ref)) < 0.05 * (np.max(np.abs(ref)) + 1e-3) + 0.01
    assert np.mean(np.array(resp.predictions) == ref.argmax(axis=1)) >= 0.8
