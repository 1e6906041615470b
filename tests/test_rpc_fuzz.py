"""Fuzzing the edge server over a real channel: random and mutated messages get a clean status, and afterwards
the server still answers a valid request correctly."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.generated import edgesplit_pb2_grpc as pb_grpc
from edgesplit.rpc.models import load_model_dir
from edgesplit.rpc.server import EdgeServer
from edgesplit.rpc.tensors import decode, encode, encode_request, parse_request
from edgesplit.rpc.testing import make_model_dir

torch.set_num_threads(1)
SHAPE = (4, 8, 8)
CLEAN = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[grpc.Channel, EdgeServer, Path]]:
    root = tmp_path_factory.mktemp("models")
    make_model_dir(root, "tiny")
    srv = EdgeServer(root, echo=True, max_message_mb=1, workers=4)
    srv.start()
    ch = grpc.insecure_channel(srv.address)
    yield ch, srv, root
    ch.close()
    srv.stop(0)


def valid(n: int = 1, seed: int = 0) -> pb.InferRequest:
    x = np.random.default_rng(seed).random((n, *SHAPE), dtype=np.float32)
    return pb.InferRequest(request_id="", device_id="d", model_id="tiny", tensor=encode(x))


# Strategies are built once: building them inside the composite costs more than the RPC itself.
floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
dims = st.one_of(st.integers(-3, 12), st.sampled_from([2**31, 2**40, 2**62, -(2**62)]))
model_ids = st.one_of(st.sampled_from(["tiny", "_echo", "", "TINY", "tiny "]), st.text(max_size=20))
dtypes = st.one_of(st.sampled_from(["float32", "float64", "float16", "uint8", ""]), st.text(max_size=8))
shapes = st.lists(dims, max_size=9)
bits = st.integers(0, 2**16 - 1)
byte_values = st.integers(0, 255)
VALID = [valid(n, seed).SerializeToString() for n in (1, 2, 3) for seed in range(4)]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid request with some of its fields replaced by odd values, serialized."""
    req = pb.InferRequest.FromString(draw(st.sampled_from(VALID)))
    t = req.tensor
    which = draw(bits)  # one bit per mutation
    if which & 1:
        req.model_id = draw(model_ids)
    if which & 2:
        t.dtype = draw(dtypes)
    if which & 4:
        del t.shape[:]
        t.shape.extend(draw(shapes))
    if which & 8:
        t.codec = draw(st.integers(0, 5))
        t.scale = draw(floats)
        t.zero_point = draw(st.integers(-1000, 1000))
    if which & 16:
        cut = draw(st.integers(-64, 64))
        t.data = t.data[:cut] if cut < 0 else t.data + bytes(cut)
    if which & 32:
        req.split_id = draw(st.sampled_from(["", "s1", "s2"]))
    if which & (64 | 128 | 256) == 64:  # one in eight
        req.ClearField("tensor")
    data = req.SerializeToString()
    if which & (512 | 1024) == 512:  # one in four: flip bytes of the encoding itself
        buf = bytearray(data)
        for _ in range(1 + (which >> 11) % 4):
            buf[draw(st.integers(0, len(buf) - 1))] = draw(byte_values)
        data = bytes(buf)
    return data


messages = st.one_of(st.binary(max_size=600), mutated())


def test_unary_fuzz_then_server_still_answers(setup: tuple[grpc.Channel, EdgeServer, Path]) -> None:
    ch, srv, root = setup
    raw = ch.unary_unary("/edgesplit.v1.Inference/Infer", response_deserializer=pb.InferResponse.FromString)
    seen: Counter[str] = Counter()

    @settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=messages)
    def send(data: bytes) -> None:
        try:
            resp = raw(data, timeout=10)
        except grpc.RpcError as err:
            assert err.code() in CLEAN, (err.code(), err.details())
            seen[err.code().name] += 1
            return
        seen["OK"] += 1
        assert len(resp.predictions) == resp.logits.shape[0]

    send()
    assert sum(seen.values()) >= 1000, seen
    assert seen["INVALID_ARGUMENT"] > 0 and seen["NOT_FOUND"] > 0 and seen["OK"] > 0, seen
    req = valid(4, seed=3)
    resp = pb_grpc.InferenceStub(ch).Infer(req, timeout=10)
    expected = load_model_dir(root)["tiny"](decode(req.tensor))
    np.testing.assert_allclose(decode(resp.logits), expected, rtol=1e-5, atol=1e-6)
    assert srv.inferencer.health().status == pb.HealthResponse.SERVING


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(messages, min_size=1, max_size=40))
def test_stream_fuzz_answers_every_message(setup: tuple[grpc.Channel, EdgeServer, Path], batch: list[bytes]) -> None:
    ch, _, _ = setup
    call = ch.stream_stream("/edgesplit.v1.Inference/InferStream", response_deserializer=pb.InferResponse.FromString)
    tail = [valid(1, seed=7).SerializeToString()]  # a valid last message: the stream must still be alive
    answers = list(call(iter(batch + tail), timeout=30))
    assert len(answers) == len(batch) + 1
    codes = {a.status.code for a in answers}
    assert codes <= {c.value[0] for c in CLEAN}, codes
    assert answers[-1].status.code == 0 and len(answers[-1].predictions) == 1


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=messages)
def test_quick_parse_equals_protobuf(data: bytes) -> None:
    """The server's copy-free parse gives what protobuf gives, and fails where protobuf fails."""
    try:
        want = pb.InferRequest.FromString(data)
    except DecodeError:
        with pytest.raises(DecodeError):
            parse_request(data)
        return
    got, tensor_data = parse_request(data)
    if tensor_data is not None:
        assert got.tensor.data == b""
        got.tensor.data = bytes(tensor_data)
    assert got == want


@given(
    shape=st.lists(st.integers(0, 5), max_size=4),
    dtype=st.sampled_from(["float32", "float16", "float64", "uint8"]),
    codec=st.sampled_from(["raw", "q8"]),
    ids=st.tuples(st.text(max_size=5), st.text(max_size=5), st.text(max_size=5), st.text(max_size=5)),
)
@settings(max_examples=50, deadline=None, database=None)
def test_quick_encode_equals_protobuf(shape: list[int], dtype: str, codec: str, ids: tuple[str, ...]) -> None:
    x = (np.arange(int(np.prod(shape)), dtype=np.float64) * 0.37 - 3).reshape(shape).astype(dtype)
    if codec == "q8" and dtype == "uint8":
        x = x.astype(np.float32)
    rid, device, model, split = ids
    data = encode_request(x, model_id=model, request_id=rid, device_id=device, split_id=split, codec=codec)
    want = pb.InferRequest(request_id=rid, device_id=device, model_id=model, split_id=split, tensor=encode(x, codec))
    assert data == want.SerializeToString()
    got, tensor_data = parse_request(data)
    np.testing.assert_array_equal(decode(got.tensor, tensor_data), decode(want.tensor))
