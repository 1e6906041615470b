"""When something is busy: the union of busy spans that become known one by one (a cell's base station, awake
while any transfer crosses it), compacted as time passes so that memory holds little more than what is ahead."""

from __future__ import annotations

from array import array
from collections.abc import Hashable

import numpy as np

Intervals = list[tuple[float, float]]


def union(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of spans [starts[i], ends[i]) as disjoint sorted intervals (touching spans merge)."""
    if starts.size == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    a, b = starts[order], ends[order]
    reach = np.maximum.accumulate(b)
    first = np.empty(a.size, bool)
    first[0] = True
    first[1:] = a[1:] > reach[:-1]  # a span that starts after everything before it has ended opens an interval
    heads = np.flatnonzero(first)
    tails = np.append(heads[1:], a.size) - 1
    return a[heads], reach[tails]


class Activity:
    """The union of spans marked busy.

    Two kinds of marks: `add(start, end, now)` for a span whose end is known when it is made (start >= now), and
    `begin(key, at)` / `end(key, at)` for one whose end is known only when it comes (a shared link from the
    moment it has a transfer on the air until it has none). Spans wait in plain arrays; every `compact_at` of them,
    the intervals of their union that end before any later span can start (before now and before every open
    span's start) are final: their length is kept and the spans dropped. Spans from several sources (a Ray
    engine's shards) merge by adding each one's intervals here (`merge`).
    """

    __slots__ = ("_a", "_b", "_open", "_final_a", "_final_b", "_final_s", "_taken", "compact_at")

    def __init__(self, compact_at: int = 4096) -> None:
        self.compact_at = compact_at
        self._a = array("d")  # pending spans' starts
        self._b = array("d")  # and ends
        self._open: dict[Hashable, float] = {}  # key -> start of a span still open
        self._final_a: list[float] = []  # final intervals, in time order
        self._final_b: list[float] = []
        self._final_s = 0.0
        self._taken = 0  # final intervals already handed out by `take_closed`

    def add(self, start: float, end: float, now: float) -> None:
        """Mark [start, end) busy (no-op when empty), at time `now` <= start."""
        if end > start:
            self._a.append(start)
            self._b.append(end)
            if len(self._a) > self.compact_at:
                self._compact(now)

    def begin(self, key: Hashable, at: float) -> None:
        """Span `key` begins now, at `at`; its end comes with `end(key, ...)`."""
        self._open[key] = at

    def end(self, key: Hashable, at: float) -> None:
        self.add(self._open.pop(key), at, at)

    def merge(self, intervals: Intervals) -> None:
        """Add busy intervals reported from elsewhere (another actor's `take_closed` / `take_rest`)."""
        for a, b in intervals:
            if b > a:
                self._a.append(a)
                self._b.append(b)

    def _pending(self, until: float) -> tuple[np.ndarray, np.ndarray]:
        """Union of the pending and open spans, clipped to [0, until)."""
        a = np.frombuffer(self._a, dtype=float)
        b = np.frombuffer(self._b, dtype=float)
        if self._open:
            opened = np.fromiter(self._open.values(), float, len(self._open))
            a = np.concatenate([a, opened])
            b = np.concatenate([b, np.full(opened.size, until)])
        keep = a < until
        starts, ends = union(a[keep], np.minimum(b[keep], until))
        return starts, ends

    def _compact(self, now: float) -> None:
        horizon = min(now, *self._open.values()) if self._open else now
        a = np.frombuffer(self._a, dtype=float)
        b = np.frombuffer(self._b, dtype=float)
        starts, ends = union(a, b)
        final = ends < horizon
        self._final_a.extend(starts[final].tolist())
        self._final_b.extend(ends[final].tolist())
        self._final_s += float((ends[final] - starts[final]).sum())
        # What is left is exactly the intervals that may still grow; keep them as spans.
        self._a = array("d", starts[~final].tolist())
        self._b = array("d", ends[~final].tolist())

    def busy_s(self, until: float) -> float:
        """Seconds busy in [0, until), counting spans still open up to `until` (`until` >= the last mark's time)."""
        starts, ends = self._pending(until)
        return self._final_s + float((ends - starts).sum())

    def take_closed(self) -> Intervals:
        """The final intervals not handed out before (a shard's report to its coordinator while running)."""
        out = list(zip(self._final_a[self._taken :], self._final_b[self._taken :], strict=True))
        self._taken = len(self._final_a)
        return out

    def take_rest(self, until: float) -> Intervals:
        """Every busy interval not handed out by `take_closed`, clipped to [0, until): the end of a run."""
        out = self.take_closed()
        starts, ends = self._pending(until)
        return out + list(zip(starts.tolist(), ends.tolist(), strict=True))
