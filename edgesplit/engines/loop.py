"""The event loop: one heap of (time, key, handler, argument), run in order; SimPy's core, without processes."""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from edgesplit.engines.observer import RunObserver

Handler = Callable[[float, Any], None]


class EventLoop:
    """Runs `handler(at, arg)` events in time order.

    The key is a sequence number that grows as events are scheduled, so simultaneous events run in the order they
    were scheduled and a run is a pure function of its inputs. `schedule_keyed` lets a caller pick the key (the
    engine orders arrivals at servers by task uid, an order the Ray engine's actors can reproduce). A handler that
    appends to `awaiting` hands control back to whoever called `advance` (an external decision is needed).
    Events past `stop_s` stay on the heap. With `pace` set (virtual seconds per wall second), each event waits
    for its wall-clock time.
    """

    progress_every = 4096

    def __init__(self, observers: Sequence[RunObserver] = (), stop_s: float = math.inf) -> None:
        self.now = 0.0
        self.events = 0
        self.stop_s = stop_s
        self.observers = list(observers)
        self.pace: float | None = None  # virtual seconds per wall second; None = as fast as possible
        self.awaiting: deque[Any] = deque()
        self._heap: list[tuple[float, int, Handler, Any]] = []
        self._seq = itertools.count()
        self._push = heapq.heappush
        self._wall0: float | None = None

    def schedule(self, at: float, handler: Handler, arg: Any = None) -> None:
        """Run `handler(at, arg)` at virtual time `at`, after everything already scheduled for `at`."""
        self._push(self._heap, (at, next(self._seq), handler, arg))

    def schedule_keyed(self, at: float, key: int, handler: Handler, arg: Any = None) -> None:
        """Run `handler(at, arg)` at `at`, ordered among events of that time by `key` (negative: before all
        sequence-numbered ones)."""
        self._push(self._heap, (at, key, handler, arg))

    def advance(self) -> Any:
        """Process events until something awaits an outside answer (returned) or none are left before the stop
        time (None)."""
        awaiting = self.awaiting
        if awaiting:
            return awaiting[0]
        heap, pop, stop_s = self._heap, heapq.heappop, self.stop_s
        observers = self.observers
        every = self.progress_every if observers else 1 << 62
        events = self.events
        next_report = (events // every + 1) * every
        pace, wall0 = self.pace, self._wall0
        while heap:
            event = pop(heap)
            at = event[0]
            if at > stop_s:
                heapq.heappush(heap, event)
                break
            if pace:
                self._wait_until(wall0 + at / pace)  # type: ignore[operator]
            self.now = at
            event[2](at, event[3])
            events += 1
            if events >= next_report:
                self.events = events
                next_report += every
                for ob in observers:
                    ob.on_progress(self)
            if awaiting:
                self.events = events
                return awaiting[0]
        self.events = events
        return None

    @property
    def end_s(self) -> float:
        """When the run ends: now if the heap ran dry, else the stop time."""
        return self.now if not self._heap else self.stop_s

    def _wait_until(self, wall: float) -> None:
        """Paced runs: sleep until `wall`, reporting progress a few times a second meanwhile."""
        while True:
            left = wall - time.perf_counter()
            if left <= 0.0:
                return
            time.sleep(min(left, 0.25))
            for ob in self.observers:
                ob.on_progress(self)
