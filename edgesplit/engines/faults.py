"""The event engine's fault handlers (scenario `faults:`): servers going down and back, link outages, devices
leaving and rejoining. A mixin of `SimEngine`: it drives the engine's own task life cycle."""

from __future__ import annotations

import math
from typing import Any

from edgesplit.engines.world import World
from edgesplit.model.entities import Device, Node
from edgesplit.model.faults import bring_up, merge_windows, take_down
from edgesplit.policies.base import LOCAL, Policy
from edgesplit.results import FAILED, PENDING, TaskTable
from edgesplit.scenario import Fault, LinkOutage, Scenario, ServerDown
from edgesplit.workload.dag import Task


class FaultHandlers:
    """Schedules a scenario's faults and carries them out (rules: docs/ray.md#faults-both-engines). It uses the
    engine's state below and its life-cycle methods (`schedule`, `_dispatch`, `_end`)."""

    scenario: Scenario
    faults: list[Fault]
    world: World
    devices: list[Device]
    servers: list[Node]
    tasks: list[Task]
    table: TaskTable
    policy: Policy | None
    device_of_task: list[Device]
    redispatches: dict[int, int]
    _hop_latency_s: list[float]
    _reservations: list[dict[int, tuple[float, float, float]]] | None
    _down_fault: list[int]
    _due: list[float]
    _radio_spans: list[list[tuple[float, float, int]]]

    def _schedule_faults(self) -> None:
        servers = {s.name: i for i, s in enumerate(self.servers)}
        cells = {c.name: i for i, c in enumerate(self.scenario.network.cells)}
        devices = {d.name: i for i, d in enumerate(self.devices)}
        outages: dict[int, list[tuple[float, float]]] = {}
        for fi, f in enumerate(self.faults):
            if isinstance(f, ServerDown):
                s = servers[f.server]
                self.schedule(f.at_s, self._server_goes_down, (s, fi))
                if f.downtime_s is not None:
                    self.schedule(f.at_s + f.downtime_s, self._server_comes_back, s)
            elif isinstance(f, LinkOutage):
                outages.setdefault(cells[f.cell], []).append((f.at_s, f.at_s + f.duration_s))
            elif self._hosts_device(devices[f.device]):
                self.schedule(f.at_s, self._device_leaves, (devices[f.device], fi))
                if f.rejoin_s is not None:
                    self.schedule(f.rejoin_s, self._device_rejoins, devices[f.device])
        for c, windows in outages.items():  # an outage silences both directions of the cell
            for link in (self.world.uplinks[c], self.world.downlinks[c]):
                link.outages = merge_windows(windows)
                if link.figures.shared:
                    for a, b in link.outages:
                        self.schedule(a, _pause, link)
                        self.schedule(b, _resume, link)

    def _hosts_device(self, index: int) -> bool:
        """Whether this engine drives device `index` (all of them here; a Ray shard drives some)."""
        return True

    def _notice_s(self, uid: int) -> float:
        """How long a device takes to notice that its task's server is gone: one return-path latency."""
        cell = self.world.uplinks[self.device_of_task[uid].cell]
        return self._hop_latency_s[self.table.target[uid]] + cell.figures.latency_s

    def _server_goes_down(self, now: float, arg: tuple[int, int]) -> None:
        s, fault = arg
        self._down_fault[s] = fault
        for uid, refund in take_down(self.servers[s], now, self._reservations[s]):  # type: ignore[index]
            self._lost(uid, now + self._notice_s(uid), refund, fault)

    def _server_comes_back(self, now: float, s: int) -> None:
        bring_up(self.servers[s], now)

    def _lost(self, uid: int, notice_at: float, refund_j: float, fault: int) -> None:
        """Device side: the task's server lost it (`refund_j` of its energy was never spent); its device will
        notice at `notice_at`, and its pending result, if any, will not come."""
        self.table.server_j[uid] -= refund_j
        self._due[uid] = math.nan
        self.schedule(notice_at, self._notices_loss, (uid, fault))

    def _notices_loss(self, now: float, arg: tuple[int, int]) -> None:
        uid, fault = arg
        if self.table.outcome[uid] != PENDING:
            return
        f = self.faults[fault]
        name = self.servers[self.table.target[uid]].name
        tries = self.redispatches.get(uid, 0)
        if f.on_loss == "fail":
            self._end(now, uid, FAILED, f"lost when {name} went down")
        elif tries >= f.redispatch_limit:
            self._end(now, uid, FAILED, f"lost when {name} went down, after {tries} re-dispatch(es)")
        else:
            self.redispatches[uid] = tries + 1
            task = self.tasks[uid]
            self._dispatch(now, task, LOCAL if task.pin == "local" else self.policy.place(task, self))  # type: ignore[union-attr]

    def _device_leaves(self, now: float, arg: tuple[int, int]) -> None:
        d, fi = arg
        dev = self.devices[d]
        dev.alive = False
        fault = self.faults[fi]
        back_at = fault.rejoin_s if fault.rejoin_s is not None else math.inf
        dev.core_free = [back_at] * len(dev.core_free)
        dev.starts.clear()
        for link in (self.world.uplinks[dev.cell], self.world.downlinks[dev.cell]):
            for tr in link.on_air(now, dev.sender):
                self._cut_transfer(now, link, tr)
            link.cancel_sender(now, dev.sender)
            link.radio_free_s[dev.sender] = now
        self._radio_spans[d].append((now, now, -1))  # its radio is off: no tail past this
        tab = self.table
        for uid, owner in enumerate(self.device_of_task):
            if owner is dev and tab.outcome[uid] == PENDING and not math.isnan(tab.release_s[uid]):
                self._cut(now, uid)
                self._end(now, uid, FAILED, "its device left the network")

    def _device_rejoins(self, now: float, d: int) -> None:
        self.devices[d].alive = True


def _pause(now: float, link: Any) -> None:
    link.pause(now)


def _resume(now: float, link: Any) -> None:
    link.resume(now)
