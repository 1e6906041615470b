"""Throughput settings: the allocator tuning is idempotent and in effect on glibc, and 1 MB tensors go through a
stream and a unary call intact and in order with the tuning and, in a fresh process, without it."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap

import numpy as np

from edgesplit.rpc import alloc
from edgesplit.rpc.alloc import tune_allocator
from edgesplit.rpc.client import EdgeClient
from edgesplit.rpc.results import Request
from edgesplit.rpc.server import EdgeServer

# Twelve 1 MB tensors over a stream and one over a unary call; prints what came back and whether the process
# tuned its allocator (None: tune_allocator was never called).
ROUND_TRIP = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from edgesplit.rpc import alloc
    from edgesplit.rpc.client import EdgeClient
    from edgesplit.rpc.results import Request
    from edgesplit.rpc.server import EdgeServer

    tune = sys.argv[1] == "tune"
    xs = [np.full((1, 250_000), i, np.float32) for i in range(12)]  # 1 MB each
    with EdgeServer({}, echo=True, max_message_mb=4, tune_malloc=tune) as srv:
        with EdgeClient([srv.address], max_message_mb=4, window=4, tune_malloc=tune) as client:
            results = list(client.infer_stream(Request("_echo", x, request_id=f"m{i}") for i, x in enumerate(xs)))
            unary = client.infer("_echo", xs[0])
    print(json.dumps({
        "ids": [r.request_id for r in results],
        "ok": all(r.ok for r in [*results, unary]),
        "logits": [r.logits.tolist() for r in [*results, unary]],
        "tuned": alloc._allocator_tuned,
    }))
    """
)


def test_tune_allocator_is_idempotent() -> None:
    first = tune_allocator()
    assert tune_allocator() is first
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert first is True


def test_1mb_tensors_in_order_with_the_tuning() -> None:
    xs = [np.full((1, 250_000), i, np.float32) for i in range(12)]  # 1 MB each
    with EdgeServer({}, echo=True, max_message_mb=4, tune_malloc=True) as srv:
        with EdgeClient([srv.address], max_message_mb=4, window=4, tune_malloc=True) as client:
            results = list(client.infer_stream(Request("_echo", x, request_id=f"m{i}") for i, x in enumerate(xs)))
            unary = client.infer("_echo", xs[0])
    assert [r.request_id for r in results] == [f"m{i}" for i in range(12)]
    # The echo model answers each sample's element count: the whole 1 MB tensor arrived.
    assert all(r.ok and r.logits.tolist() == [[250_000.0]] for r in [*results, unary])
    assert alloc._allocator_tuned is not None  # the server or client asked for the tuning


def test_1mb_tensors_in_order_without_the_tuning_in_a_fresh_process() -> None:
    # The tuning is process-wide and once per process, so "without" is only testable where nothing tuned yet.
    out = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, "plain"], capture_output=True, text=True, timeout=120, check=True
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["tuned"] is None  # neither the server nor the client called tune_allocator
    assert got["ok"] and got["ids"] == [f"m{i}" for i in range(12)]
    assert got["logits"] == [[[250_000.0]]] * 13
