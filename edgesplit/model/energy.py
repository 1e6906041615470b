"""Energy bookkeeping: the idle power that a node's in-flight tasks share."""

from __future__ import annotations


class IdleMeter:
    """Integrates a node's idle (baseline) power and shares it among the tasks in flight on it.

    Each in-flight task receives power x dt / n over every interval with n tasks in flight; intervals with
    none go to `unattributed_j`. A task's share is the difference of `per_task_j` between its end and its start,
    so every update is O(1) and the shares plus the unattributed part add up to power x elapsed time exactly.
    """

    __slots__ = ("power_w", "inflight", "per_task_j", "unattributed_j", "last_s")

    def __init__(self, power_w: float) -> None:
        self.power_w = power_w
        self.inflight = 0
        self.per_task_j = 0.0
        self.unattributed_j = 0.0
        self.last_s = 0.0

    def advance(self, now: float) -> None:
        dt = now - self.last_s
        if dt > 0.0:
            if self.inflight:
                self.per_task_j += self.power_w * dt / self.inflight
            else:
                self.unattributed_j += self.power_w * dt
            self.last_s = now

    def begin(self, now: float) -> float:
        """A task starts to count; returns the mark to pass to `end`."""
        if now > self.last_s:  # advance(now), inlined: this runs twice per task
            if self.inflight:
                self.per_task_j += self.power_w * (now - self.last_s) / self.inflight
            else:
                self.unattributed_j += self.power_w * (now - self.last_s)
            self.last_s = now
        self.inflight += 1
        return self.per_task_j

    def end(self, now: float, mark: float) -> float:
        """A task stops counting; returns its idle-energy share in joules."""
        if now > self.last_s:  # advance(now), inlined; a task in flight means inflight > 0
            self.per_task_j += self.power_w * (now - self.last_s) / self.inflight
            self.last_s = now
        self.inflight -= 1
        return self.per_task_j - mark

    @property
    def total_j(self) -> float:
        """Idle energy integrated so far (shares handed out or still accruing, plus unattributed)."""
        return self.power_w * self.last_s
