"""Throughput settings: the allocator tuning is idempotent and in effect on glibc, and 1 MB tensors go through a
stream and a unary call intact and in order whether the server and client ask for the tuning or not (it is
process-wide, so once any test has tuned, "not" only means these two do not ask)."""

from __future__ import annotations

import platform

import numpy as np
import pytest

from edgesplit.rpc.alloc import tune_allocator
from edgesplit.rpc.client import EdgeClient
from edgesplit.rpc.results import Request
from edgesplit.rpc.server import EdgeServer


def test_tune_allocator_is_idempotent() -> None:
    first = tune_allocator()
    assert tune_allocator() is first
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert first is True


@pytest.mark.parametrize("tune_malloc", [False, True])
def test_1mb_tensors_in_order(tune_malloc: bool) -> None:
    xs = [np.full((1, 250_000), i, np.float32) for i in range(12)]  # 1 MB each
    with EdgeServer({}, echo=True, max_message_mb=4, tune_malloc=tune_malloc) as srv:
        with EdgeClient([srv.address], max_message_mb=4, window=4, tune_malloc=tune_malloc) as client:
            results = list(client.infer_stream(Request("_echo", x, request_id=f"m{i}") for i, x in enumerate(xs)))
            unary = client.infer("_echo", xs[0])
    assert [r.request_id for r in results] == [f"m{i}" for i in range(12)]
    assert all(r.ok and r.logits is not None and r.logits.tolist() == [[250_000.0]] for r in [*results, unary])
