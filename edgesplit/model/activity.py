"""When something is busy: the union of busy spans that become known one by one (a cell's base station, awake
while any transfer crosses it), folded as time passes so that memory holds only what is still ahead."""

from __future__ import annotations

import heapq
from array import array


class Activity:
    """The union of spans [start, end) marked busy, with every mark at or after the time it is made.

    Marks go on a heap of (time, +1 / -1); `fold(upto)` plays the marks up to `upto` in time order and keeps
    the closed busy intervals (`starts`, `ends`, merged where they touch). Because no later mark can come before
    the time it is made, folding up to that time is final. Spans from several sources (a Ray engine's shards)
    merge by adding each one's intervals here.
    """

    __slots__ = ("_marks", "_count", "_since", "starts", "ends", "_taken")

    def __init__(self) -> None:
        self._marks: list[tuple[float, int]] = []
        self._count = 0
        self._since = 0.0
        self.starts = array("d")
        self.ends = array("d")
        self._taken = 0  # closed intervals already handed out by `take_closed`

    def add(self, start: float, end: float, now: float) -> None:
        """Mark [start, end) busy (no-op when empty), at time `now` <= start."""
        if end > start:
            heapq.heappush(self._marks, (start, 1))
            heapq.heappush(self._marks, (end, -1))
        self.fold(now)

    def begin(self, at: float) -> None:
        """A span of unknown end begins now, at `at` (close it with `end`)."""
        heapq.heappush(self._marks, (at, 1))
        self.fold(at)

    def end(self, at: float) -> None:
        """A span begun with `begin` ends now, at `at`."""
        heapq.heappush(self._marks, (at, -1))
        self.fold(at)

    def merge(self, intervals: list[tuple[float, float]]) -> None:
        """Add spans reported from elsewhere (another actor's `take_closed` / `take_rest`); the next `busy_s` or
        `take_rest` folds them in with the rest."""
        for a, b in intervals:
            if b > a:
                heapq.heappush(self._marks, (a, 1))
                heapq.heappush(self._marks, (b, -1))

    def fold(self, upto: float) -> None:
        """Play the marks at or before `upto` (ends before starts at equal times: touching spans merge below)."""
        marks = self._marks
        while marks and marks[0][0] <= upto:
            at, step = heapq.heappop(marks)
            if step > 0 and self._count == 0:
                self._since = at
            self._count += step
            if self._count == 0 and at > self._since:
                if self.ends and self.ends[-1] >= self._since:  # touches the previous interval
                    self.ends[-1] = at
                else:
                    self.starts.append(self._since)
                    self.ends.append(at)

    def busy_s(self, until: float) -> float:
        """Seconds busy in [0, until), counting a span still open then up to `until`."""
        self.fold(until)
        total = 0.0
        for a, b in zip(self.starts, self.ends, strict=True):
            if a >= until:
                break
            total += (b if b < until else until) - a
        if self._count > 0 and self._since < until:
            total += until - self._since
        return total

    def take_closed(self) -> list[tuple[float, float]]:
        """The closed intervals not handed out before (a shard's report to its coordinator), the latest left out
        while a span touching it could still extend it."""
        last = len(self.starts) - 1
        out = list(zip(self.starts[self._taken : last], self.ends[self._taken : last], strict=True))
        self._taken = max(last, self._taken)
        return out

    def take_rest(self, until: float) -> list[tuple[float, float]]:
        """Every interval not handed out by `take_closed`, clipped to [0, until) (open and future spans too):
        the end of a run."""
        self.fold(float("inf"))
        rest = zip(self.starts[self._taken :], self.ends[self._taken :], strict=True)
        out = [(a, min(b, until)) for a, b in rest if a < until]
        if self._count > 0 and self._since < until:
            out.append((self._since, until))
        self._taken = len(self.starts)
        return out
