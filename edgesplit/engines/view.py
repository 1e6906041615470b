"""What a policy sees of the event engine (the `SystemView` of policies/base.py): servers, queues and estimates.
A mixin of `SimEngine`."""

from __future__ import annotations

import heapq
from typing import Any

from edgesplit.engines.world import World
from edgesplit.model.energy import radio_energy_j, tail_added_j
from edgesplit.model.entities import Device, Node
from edgesplit.model.network import Link
from edgesplit.policies.base import LOCAL
from edgesplit.results import PENDING, TaskTable
from edgesplit.workload.dag import Job, Task


class EngineView:
    """What a policy sees. Server figures count the work that has reached each server (its cores are reserved on
    arrival) plus, for the deciding task's device, the work that device has sent and that is still on its way: a
    device knows what it sent, not what other devices sent (which also keeps the Ray engine's shards, which see
    other shards' work only when it arrives, making the same decisions). Estimates use the radio's mean jitter and
    expected retransmissions, charge transmit power only for time on the air, and add the radio tail that a task's
    transfers add to the device's radio (`model.energy.tail_added_j`). They assume the load stays as it
    is; the engine then plays out what really happens."""

    now: float
    world: World
    jobs: list[Job]
    tasks: list[Task]
    table: TaskTable
    servers: list[Node]
    device_of_task: list[Device]
    _edge_servers: list[int]
    _outstanding: list[list[list[Any]]]
    _radio_until: list[float]

    @property
    def n_servers(self) -> int:
        return len(self.servers)

    @property
    def edge_servers(self) -> list[int]:
        return self._edge_servers

    def server_name(self, target: int) -> str:
        return "local" if target == LOCAL else self.servers[target].name

    def server_backlog_s(self, target: int, task: Task | None = None) -> float:
        """Seconds until server `target` has a free core (with `task`: counting its device's work on the way)."""
        free = self._server_cores(target, task)[0] if task is not None else self.servers[target].core_free[0]
        return max(free - self.now, 0.0)

    def device_index(self, task: Task) -> int:
        return self.jobs[task.job_uid].device

    def _device_of(self, task: Task) -> Device:
        return self.device_of_task[task.uid]

    def compute_s(self, task: Task, target: int) -> float:
        node = self._device_of(task) if target == LOCAL else self.servers[target]
        return node.cycles_of(task) * node.seconds_per_cycle

    def transfer_s(self, task: Task, target: int) -> float:
        if target == LOCAL:
            return 0.0
        dev = self._device_of(task)
        fig = self.world.uplinks[dev.cell].figures
        hop = self.world.hops[target]
        up, _, _ = self._on_air(self.world.uplinks, dev, task.input_bytes * 8.0)
        down, _, _ = self._on_air(self.world.downlinks, dev, task.output_bytes * 8.0)
        radio = 2 * (fig.latency_s + fig.jitter_s / 2)
        return up + down + radio + hop.seconds(task.input_bytes) + hop.seconds(task.output_bytes)

    def core_free(self, task: Task, target: int) -> list[float]:
        if target == LOCAL:
            return self._device_of(task).core_free
        return self._server_cores(target, task)

    def estimate(self, task: Task, target: int) -> tuple[float, float]:
        now = self.now
        dev = self._device_of(task)
        if target == LOCAL:
            start = dev.earliest_start(now)
            cycles = dev.cycles_of(task)
            return start + cycles * dev.seconds_per_cycle, cycles * dev.joules_per_cycle
        server = self.servers[target]
        fig = self.world.uplinks[dev.cell].figures
        hop = self.world.hops[target]
        bits = task.input_bytes * 8.0
        up, air_s, sent = self._on_air(self.world.uplinks, dev, bits)
        arrive = now + up + fig.latency_s + fig.jitter_s / 2 + hop.latency_s + bits / hop.rate_bps
        free = self._server_cores(target, task)[0]
        start = free if free > arrive else arrive
        compute = server.cycles_of(task) * server.seconds_per_cycle
        at_cell = start + compute + hop.seconds(task.output_bytes) + fig.latency_s + fig.jitter_s / 2
        down, down_air_s, received = self._on_air(self.world.downlinks, dev, task.output_bytes * 8.0, at_cell)
        finish = at_cell + down
        p = dev.profile
        energy = radio_energy_j(p.radio_base_w, p.radio_up_w_per_bps, air_s, sent)
        energy += radio_energy_j(p.radio_base_w, p.radio_down_w_per_bps, down_air_s, received)
        up_span = (now + up - air_s, now + up)
        tail = tail_added_j(
            p.radio_tail_w, p.radio_tail_s, self._radio_until[dev.index], now, up_span, finish - down_air_s
        )
        return finish, energy + tail

    # -- helpers --------------------------------------------------------------------------------------------

    def _on_air(
        self, links: list[Link], dev: Device, bits: float, at: float | None = None
    ) -> tuple[float, float, float]:
        """(seconds until `bits` queued at `at` (default now) on the device's uplink or downlink (`links`) would
        have crossed it, seconds of it on the air, bits over the air), with the expected number of attempts of a
        lossy cell, if the cell's load stayed as it is now."""
        if bits <= 0.0:
            return 0.0, 0.0, 0.0
        link = links[dev.cell]
        sent = bits * expected_attempts(link.figures.loss, link.figures.max_retries)
        until = link.estimate_s(dev.sender, sent, self.now, at)
        return until, until - link.estimate_s(dev.sender, 0.0, self.now, at), sent

    def _arrival_estimate(self, task: Task, target: int) -> float:
        """When `task`'s input, sent now, should reach server `target`."""
        dev = self._device_of(task)
        fig = self.world.uplinks[dev.cell].figures
        hop = self.world.hops[target]
        up, _, _ = self._on_air(self.world.uplinks, dev, task.input_bytes * 8.0)
        return self.now + up + fig.latency_s + fig.jitter_s / 2 + hop.latency_s + task.input_bytes * 8.0 / hop.rate_bps

    def _server_cores(self, target: int, task: Task | None) -> list[float]:
        """Server `target`'s cores as `task`'s device sees them: the work there, then the work it sent that is
        still on its way (queued in order of arrival)."""
        cores = self.servers[target].core_free
        if task is None:
            return cores
        entries = self._outstanding[self._device_of(task).index]
        if not entries:
            return cores
        now, outcome = self.now, self.table.outcome
        # Drop what has arrived (its arrival is known and past) or ended; keep the rest.
        entries[:] = [e for e in entries if outcome[e[0]] == PENDING and not (e[4] and e[2] <= now)]
        mine = sorted((e[2], e[3]) for e in entries if e[1] == target)
        if not mine:
            return cores
        cores = list(cores)
        for arrive, seconds in mine:
            free = cores[0]
            heapq.heapreplace(cores, (free if free > arrive else arrive) + seconds)
        return cores


def expected_attempts(loss: float, max_retries: int) -> float:
    """Mean number of attempts of a transfer on a cell that loses each one with probability `loss`, resent up
    to `max_retries` times: 1 + loss + ... + loss^max_retries."""
    return sum(loss**k for k in range(max_retries + 1)) if loss > 0.0 else 1.0
