"""Devices and servers: FIFO multi-core compute, energy meters and counters; the engine drives them."""

from __future__ import annotations

import heapq
from collections import deque
from typing import TYPE_CHECKING

from edgesplit.model.energy import IdleMeter
from edgesplit.model.profiles import Profile

if TYPE_CHECKING:
    from edgesplit.workload.dag import Task


class Node:
    """Something that computes: a device, an edge server or a cloud VM.

    Its cores serve tasks first come, first served. Durations are known when a task is queued, so the FIFO
    queue is kept as each core's "free at" time: a task queued at `now` starts on the earliest-free core at
    max(now, free) and that core is then free at start + duration. This gives exactly the FIFO schedule and
    makes a node's earliest start an O(1) look-up for the policies.
    """

    __slots__ = (
        "index",
        "name",
        "group",
        "profile",
        "core_free",
        "starts",
        "idle",
        "compute_j",
        "busy_s",
        "tasks",
        "seconds_per_cycle",
        "joules_per_cycle",
        "cycles_per_flop",
        "alive",
    )

    def __init__(self, index: int, name: str, group: str, profile: Profile) -> None:
        self.index = index
        self.name = name
        self.group = group
        self.profile = profile
        self.core_free = [0.0] * profile.cores
        self.starts: deque[float] = deque()  # start times of queued tasks, non-decreasing (FIFO)
        self.idle = IdleMeter(profile.idle_power_w)
        self.compute_j = 0.0
        self.busy_s = 0.0
        self.tasks = 0
        self.seconds_per_cycle = 1.0 / profile.cpu_hz
        self.joules_per_cycle = profile.compute_energy_j(1.0)  # both energy models are linear in cycles
        self.cycles_per_flop = 1.0 / profile.flops_per_cycle
        self.alive = True  # reported as edgesplit_server_up; fault injection will take nodes down

    def cycles_of(self, task: Task) -> float:
        """Cycles `task` takes here: its own cycle count, or its FLOPs at this node's flops per cycle (DNN tasks)."""
        return task.flops * self.cycles_per_flop if task.flops else task.cycles

    def earliest_start(self, now: float) -> float:
        free = self.core_free[0]
        return free if free > now else now

    def reserve(self, now: float, cycles: float) -> tuple[float, float, float]:
        """Queue `cycles` at `now`; returns (start, end, dynamic energy in J)."""
        free = self.core_free[0]
        start = free if free > now else now
        seconds = cycles * self.seconds_per_cycle
        end = start + seconds
        heapq.heapreplace(self.core_free, end)
        self.starts.append(start)
        energy = cycles * self.joules_per_cycle
        self.compute_j += energy
        self.busy_s += seconds
        self.tasks += 1
        return start, end, energy

    def queue_length(self, now: float) -> int:
        """Tasks queued here that have not started by `now`."""
        starts = self.starts
        while starts and starts[0] <= now:
            starts.popleft()
        return len(starts)

    def busy_cores(self, now: float) -> int:
        """Cores computing at `now` (a core with work planned past `now` is busy without a gap)."""
        return sum(1 for f in self.core_free if f > now)


class Device(Node):
    """A mobile device or board: a Node with a radio in one cell."""

    __slots__ = ("cell", "sender", "tx_j", "rx_j", "offloaded", "distance_m")

    def __init__(self, index: int, name: str, group: str, profile: Profile, cell: int, distance_m: float) -> None:
        super().__init__(index, name, group, profile)
        self.cell = cell
        self.sender = -1
        self.distance_m = distance_m
        self.tx_j = 0.0
        self.rx_j = 0.0
        self.offloaded = 0

    @property
    def energy_j(self) -> float:
        """Compute + radio + idle energy so far."""
        return self.compute_j + self.tx_j + self.rx_j + self.idle.total_j

    def battery_left_j(self) -> float | None:
        cap = self.profile.battery_j
        return None if cap is None else max(cap - self.energy_j, 0.0)
