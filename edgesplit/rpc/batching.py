"""Micro-batching: requests for one model that arrive close together run through it as one batch."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent import futures

import numpy as np

from edgesplit.rpc.models import EchoModel, TailModel


class MicroBatcher:
    """Runs one model on requests that arrive within `wait_s` of the first, up to `batch_max` requests a batch."""

    def __init__(self, model: TailModel | EchoModel, batch_max: int, wait_s: float, stats: Callable[[int], None]):
        self.model = model
        self.batch_max = batch_max
        self.wait_s = wait_s
        self._stats = stats
        self._queue: queue.SimpleQueue[tuple[np.ndarray, futures.Future] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"batch-{model.model_id}", daemon=True)
        self._thread.start()

    def submit(self, x: np.ndarray) -> futures.Future:
        fut: futures.Future = futures.Future()
        self._queue.put((x, fut))
        return fut

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            until = time.monotonic() + self.wait_s
            while len(batch) < self.batch_max:
                try:
                    item = self._queue.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._run(batch)

    def _run(self, batch: list[tuple[np.ndarray, futures.Future]]) -> None:
        try:
            xs = batch[0][0] if len(batch) == 1 else np.concatenate([x for x, _ in batch])
            logits = self.model(xs)
        except Exception as err:  # the callers turn it into INTERNAL
            for _, fut in batch:
                fut.set_exception(err)
            return
        self._stats(len(batch))
        start = 0
        for x, fut in batch:
            fut.set_result(logits[start : start + len(x)])
            start += len(x)
