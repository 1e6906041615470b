"""The server's throughput helpers: per-stream read-ahead (order, bound, errors, no thread left behind) and the
allocator tuning; and streams of 1 MB tensors answered correctly with read-ahead on and off."""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Iterator

import grpc
import numpy as np
import pytest

from edgesplit.rpc.client import EdgeClient, Request
from edgesplit.rpc.generated import edgesplit_pb2 as pb
from edgesplit.rpc.server import EdgeServer, ReadAhead, tune_allocator
from edgesplit.rpc.tensors import encode_request


def readers() -> int:
    return sum(t.name == "edge-rpc-read" for t in threading.enumerate())


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_read_ahead_keeps_order_and_stays_within_its_bound() -> None:
    taken = []

    def source() -> Iterator[int]:
        for i in range(40):
            taken.append(i)
            yield i

    got = []
    for item in ReadAhead(source(), depth=3):
        got.append(item)
        time.sleep(0.002)  # a slow handler: the reader runs ahead, but only so far
        assert len(taken) - len(got) <= 3 + 1  # `depth` waiting and one in the reader's hands
    assert got == list(range(40))


def test_read_ahead_raises_the_error_after_the_requests_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("cancelled")

    got = []
    with pytest.raises(RuntimeError, match="cancelled"):
        for item in ReadAhead(source(), depth=2):
            got.append(item)
    assert got == [1, 2]


def test_read_ahead_close_and_an_ended_call_stop_the_reader() -> None:
    def endless() -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1

    before = readers()
    ahead = ReadAhead(endless(), depth=2)
    assert next(iter(ahead)) == 0
    assert readers() == before + 1
    ahead.close()  # the handler is done: the reader, blocked on a full buffer, ends
    assert wait_until(lambda: readers() == before)

    active = [True]
    ReadAhead(endless(), depth=2, is_active=lambda: active[0])  # nobody reads it and nobody closes it
    assert readers() == before + 1
    active[0] = False  # the call ended: the reader notices within its wait
    assert wait_until(lambda: readers() == before)


def test_tune_allocator_is_idempotent() -> None:
    first = tune_allocator()
    assert tune_allocator() is first
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert first is True


@pytest.mark.parametrize("read_ahead", [0, 2])
def test_stream_of_1mb_tensors_in_order(read_ahead: int) -> None:
    xs = [np.full((1, 250_000), i, np.float32) for i in range(12)]  # 1 MB each
    with EdgeServer({}, echo=True, max_message_mb=4, read_ahead=read_ahead) as srv:
        with EdgeClient([srv.address], max_message_mb=4, window=4) as client:
            results = list(client.infer_stream(Request("_echo", x, request_id=f"m{i}") for i, x in enumerate(xs)))
    assert [r.request_id for r in results] == [f"m{i}" for i in range(12)]
    assert all(r.ok and r.logits is not None and r.logits[0, 0] == 250_000 for r in results)


def test_cancelled_stream_leaves_no_reader_behind() -> None:
    before = readers()
    payload = encode_request(np.ones((1, 1000), np.float32), model_id="_echo", request_id="")
    release = threading.Event()

    def requests() -> Iterator[bytes]:
        for _ in range(3):
            yield payload
        release.wait(10)  # the client keeps the stream open without sending

    with EdgeServer({}, echo=True) as srv, grpc.insecure_channel(srv.address) as channel:
        call = channel.stream_stream(
            "/edgesplit.v1.Inference/InferStream", response_deserializer=pb.InferResponse.FromString
        )(requests())
        answers = [next(call) for _ in range(3)]
        assert all(a.status.code == 0 for a in answers)
        assert readers() == before + 1
        call.cancel()
        release.set()
        assert wait_until(lambda: readers() == before)
