"""The server's answer cache: one answer per request key, so a retried request is answered, not recomputed."""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent import futures


class AnswerCache:
    """LRU of request key -> Future of its response; a duplicate waits for (or reuses) the first answer."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str, str], futures.Future] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, key: tuple[str, str, str]) -> tuple[futures.Future, bool]:
        """(future, True) when the caller must compute the answer, (existing future, False) otherwise."""
        with self._lock:
            fut = self._entries.get(key)
            if fut is not None:
                self._entries.move_to_end(key)
                return fut, False
            fut = futures.Future()
            self._entries[key] = fut
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return fut, True

    def forget(self, key: tuple[str, str, str], fut: futures.Future) -> None:
        with self._lock:
            if self._entries.get(key) is fut:
                del self._entries[key]
