"""What a policy sees of the event engine (the `SystemView` of policies/base.py): servers, queues and estimates.
A mixin of `SimEngine`."""

from __future__ import annotations

from edgesplit.engines.world import World
from edgesplit.model.energy import power_energy_j
from edgesplit.model.entities import Device, Node
from edgesplit.policies.base import LOCAL
from edgesplit.workload.dag import Job, Task


class EngineView:
    """Estimates assume the load stays as it is; the engine then plays out what really happens."""

    now: float
    world: World
    jobs: list[Job]
    servers: list[Node]
    device_of_task: list[Device]
    _edge_servers: list[int]

    @property
    def n_servers(self) -> int:
        return len(self.servers)

    @property
    def edge_servers(self) -> list[int]:
        return self._edge_servers

    def server_name(self, target: int) -> str:
        return "local" if target == LOCAL else self.servers[target].name

    def server_backlog_s(self, target: int) -> float:
        return max(self.servers[target].core_free[0] - self.now, 0.0)

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
        link = self.world.uplinks[dev.cell]
        hop = self.world.hops[target]
        up = link.estimate_s(dev.sender, task.input_bytes * 8.0, self.now) if task.input_bytes else 0.0
        down = task.output_bytes * 8.0 / link.figures.downlink_rate_bps
        return up + down + 2 * link.figures.latency_s + hop.seconds(task.input_bytes) + hop.seconds(task.output_bytes)

    def core_free(self, task: Task, target: int) -> list[float]:
        return (self._device_of(task) if target == LOCAL else self.servers[target]).core_free

    def estimate(self, task: Task, target: int) -> tuple[float, float]:
        now = self.now
        dev = self._device_of(task)
        if target == LOCAL:
            start = dev.earliest_start(now)
            cycles = dev.cycles_of(task)
            return start + cycles * dev.seconds_per_cycle, cycles * dev.joules_per_cycle
        server = self.servers[target]
        link = self.world.uplinks[dev.cell]
        fig = link.figures
        hop = self.world.hops[target]
        up = link.estimate_s(dev.sender, task.input_bytes * 8.0, now) if task.input_bytes else 0.0
        arrive = now + up + fig.latency_s + hop.latency_s + task.input_bytes * 8.0 / hop.rate_bps
        free = server.core_free[0]
        start = free if free > arrive else arrive
        down = task.output_bytes * 8.0 / fig.downlink_rate_bps
        compute = server.cycles_of(task) * server.seconds_per_cycle
        finish = start + compute + hop.seconds(task.output_bytes) + fig.latency_s + down
        return finish, power_energy_j(dev.profile.tx_power_w, up) + power_energy_j(dev.profile.rx_power_w, down)
